"""Gap accounting and duplicate removal over data frames (live and RESENT, any order).

The sample index is authoritative: the assembler keeps the exact set of indices received
(an interval set), hands out only samples it has not handed out before, each with its
64-bit index, and can say at any time exactly which index ranges are missing.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import numpy as np

from .errors import ProtocolError
from .frames import DataFrame
from .unwrap import SeqCounter, Unwrapper


class IntervalSet:
    """Disjoint half-open integer ranges [start, stop), kept sorted and merged."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._stops: list[int] = []

    def add(self, start: int, stop: int) -> list[tuple[int, int]]:
        """Add [start, stop); return the parts that were not in the set before."""
        if start >= stop:
            return []
        starts, stops = self._starts, self._stops
        lo = bisect_left(stops, start)  # first range that ends at or after start
        hi = bisect_right(starts, stop)  # ranges [lo, hi) overlap or touch [start, stop)
        new: list[tuple[int, int]] = []
        cur = start
        for j in range(lo, hi):
            if starts[j] > cur:
                new.append((cur, starts[j]))
            cur = max(cur, stops[j])
        if cur < stop:
            new.append((cur, stop))
        if lo < hi:
            merged = (min(start, starts[lo]), max(stop, stops[hi - 1]))
        else:
            merged = (start, stop)
        starts[lo:hi] = [merged[0]]
        stops[lo:hi] = [merged[1]]
        return new

    def __contains__(self, index: int) -> bool:
        j = bisect_right(self._starts, index) - 1
        return j >= 0 and index < self._stops[j]

    def __len__(self) -> int:
        """Number of disjoint ranges."""
        return len(self._starts)

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._stops, strict=True))

    def total(self) -> int:
        """Number of integers in the set."""
        return sum(b - a for a, b in zip(self._starts, self._stops, strict=True))

    def complement(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The ranges of [lo, hi) not in the set."""
        out = []
        cur = lo
        j = max(bisect_right(self._stops, lo), 0)
        while j < len(self._starts) and self._starts[j] < hi:
            if self._starts[j] > cur:
                out.append((cur, self._starts[j]))
            cur = max(cur, self._stops[j])
            j += 1
        if cur < hi:
            out.append((cur, hi))
        return out


@dataclass(slots=True)
class SampleBlock:
    """New samples: `samples[i]` is sample index `start + i` (64-bit, unwrapped)."""

    start: int
    samples: np.ndarray
    frame: DataFrame
    frame_start: int
    frame_time_us: int

    @property
    def stop(self) -> int:
        return self.start + int(self.samples.shape[0])

    @property
    def resent(self) -> bool:
        return self.frame.resent


class SampleAssembler:
    """Turns DataFrames (live and RESENT, any order) into new samples with 64-bit indices.

    `origin` is the index the stream starts at (0 after START); None takes the first frame's
    index (joining a running stream). Samples before the origin are still accepted; the
    missing ranges are counted from min(origin, lowest index seen).
    Counters: frames, samples (new), duplicate_frames (nothing new), duplicate_samples
    (dropped overlap), resent_frames, resent_samples (new samples that came by RESEND),
    lost_frames and out_of_order_frames (from seq, link-level evidence only).
    """

    def __init__(self, *, origin: int | None = 0, expect_seq: int | None = 0) -> None:
        self.received = IntervalSet()
        self.origin = origin
        self._low = origin
        self.high = origin  # one past the highest index received
        self._index = Unwrapper(32, reference=origin)
        self._time = Unwrapper(32)
        self.seq = SeqCounter(expect_seq)
        self.channel_mask: int | None = None
        self.fmt: int | None = None
        self.frames = 0
        self.samples = 0
        self.duplicate_frames = 0
        self.duplicate_samples = 0
        self.resent_frames = 0
        self.resent_samples = 0

    @property
    def lost_frames(self) -> int:
        return self.seq.lost

    @property
    def out_of_order_frames(self) -> int:
        return self.seq.out_of_order

    def new_link(self, expect_seq: int | None = 0) -> None:
        """A new connection: its seq starts again (the sample index does not)."""
        self.seq.reset(expect_seq)

    def add(self, frame: DataFrame) -> list[SampleBlock]:
        """Account for one frame; return its samples not received before (often one block,
        none for a duplicate, several when a resent frame fills separate holes)."""
        if self.channel_mask is None:
            self.channel_mask, self.fmt = frame.channel_mask, frame.fmt
        elif frame.channel_mask != self.channel_mask or frame.fmt != self.fmt:
            raise ProtocolError(
                f"data frame with channel_mask 0x{frame.channel_mask:02x} format "
                f"0x{frame.fmt:02x} in a stream of 0x{self.channel_mask:02x}/0x{self.fmt:02x}: "
                "the configuration cannot change within a stream (START a new one)",
                frame.offset,
                "shape",
            )
        self.frames += 1
        self.seq.update(frame.seq)
        start = self._index(frame.first_index)
        n = frame.n_samples
        stop = start + n
        t = self._time(frame.device_time_us)
        if self._low is None or start < self._low:
            self._low = start
        if self.origin is None:
            self.origin = start
        if self.high is None or stop > self.high:
            self.high = stop
        new = self.received.add(start, stop)
        fresh = sum(b - a for a, b in new)
        self.samples += fresh
        self.duplicate_samples += n - fresh
        if not fresh:
            self.duplicate_frames += 1
        if frame.resent:
            self.resent_frames += 1
            self.resent_samples += fresh
        return [
            SampleBlock(a, frame.samples[a - start : b - start], frame, start, t) for a, b in new
        ]

    def missing(self) -> list[tuple[int, int]]:
        """Index ranges [start, stop) never received, between the origin and the newest."""
        if self.high is None or self._low is None:
            return []
        return self.received.complement(self._low, self.high)

    def missing_samples(self) -> int:
        return sum(b - a for a, b in self.missing())

    def unwrap_index(self, raw: int) -> int:
        """64-bit index of a u32 index from the same stream (e.g. an OVERRUN event's)."""
        return self._index.peek(raw)
