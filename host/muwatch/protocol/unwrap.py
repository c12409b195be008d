"""Counters that wrap: u32 sample index and device clock, u16 sequence numbers."""

from __future__ import annotations


class Unwrapper:
    """Turns a wrapping counter (u32 by default) into an unbounded int.

    A step forward of less than half the range is progress (the counter wrapped if the raw
    value went down); a step back of at most half the range is an older value (a resent
    frame) and does not move the reference. The u32 device clock wraps every 71.6 min and
    the sample index every 2**32 samples; both pass through here.
    """

    def __init__(self, bits: int = 32, reference: int | None = None) -> None:
        self.modulus = 1 << bits
        self._half = self.modulus >> 1
        self._ref = reference  # unwrapped value of the furthest point reached

    @property
    def reference(self) -> int | None:
        """The furthest unwrapped value seen so far (None before the first value)."""
        return self._ref

    def __call__(self, raw: int) -> int:
        if not 0 <= raw < self.modulus:
            raise ValueError(f"raw counter value {raw} outside 0..{self.modulus - 1}")
        ref = self._ref
        if ref is None:
            self._ref = raw
            return raw
        delta = (raw - ref) % self.modulus
        if delta < self._half:
            ref += delta
            self._ref = ref
            return ref
        return ref - (self.modulus - delta)

    def peek(self, raw: int) -> int:
        """What __call__ would return, without moving the reference."""
        ref = self._ref
        if ref is None:
            return raw
        delta = (raw - ref) % self.modulus
        return ref + delta if delta < self._half else ref - (self.modulus - delta)

    def unwrap_many(self, raw: list[int]) -> list[int]:
        return [self(r) for r in raw]


class SeqCounter:
    """Counts frames lost from holes in a per-link u16 sequence number.

    `expect` is the first sequence number of the link (0 at connection start per the
    protocol; None when joining a link already running). A value behind the expected one
    is counted in `out_of_order` and does not move the expectation (nor is it taken back
    from `lost`: a late frame was still missing when its hole was seen).
    """

    def __init__(self, expect: int | None = 0, bits: int = 16) -> None:
        self.modulus = 1 << bits
        self._expect = expect
        self.lost = 0
        self.out_of_order = 0
        self.received = 0

    def reset(self, expect: int | None = 0) -> None:
        """A new connection: sequence numbers start again."""
        self._expect = expect

    def update(self, seq: int) -> int:
        """Account for one received counter value; return how many were lost before it."""
        self.received += 1
        if self._expect is None:
            self._expect = (seq + 1) % self.modulus
            return 0
        gap = (seq - self._expect) % self.modulus
        if gap >= self.modulus >> 1:
            self.out_of_order += 1
            return 0
        self.lost += gap
        self._expect = (seq + 1) % self.modulus
        return gap
