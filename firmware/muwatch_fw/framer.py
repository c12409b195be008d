"""Framer: DATA frames from the ring buffer into a link's data queue (live and RESEND).

Live frames follow the live cursor `lc` from index 0 after START; each frame takes as many
whole samples as the link's frame budget allows (a partial frame only when the oldest
waiting sample is older than MAX_LATENCY_US, or when draining after STOP). RESEND ranges
are served from the ring between live frames (one resent frame per live frame while both
wait), flagged RESENT. Conversions the sampler missed (zero status byte) are skipped: the
sampler reported them (OVERRUN cause 1). Samples the ring overwrote before the link took
them while it was connected are reported as OVERRUN cause 2 with their exact range (holes
subtracted); after a link comes back, live frames resume at the newest sample.

No allocation per frame: the payload is copied by a viper loop straight from the ring into
the link's preallocated slot, and the header/CRC writers of protocol.py fill the rest.
"""

import micropython
from micropython import const

from . import protocol as P
from .link import HEADROOM
from .sampler import MASK30, QN

MAX_LATENCY_US = const(100_000)
_RQ = const(8)  # queued RESEND ranges
_PAYLOAD = const(18)  # HEADROOM (2) + DATA_HEADER_LEN (16)


@micropython.viper
def _pack(dst, doff: int, ring, roff: int, rec: int, cap_bytes: int, n: int, chans, nch: int, bps: int) -> int:
    """Copy up to n ring records' selected channels into dst; stop at a missed conversion.

    -> samples copied | lead-off seen << 16 | saturated << 17.
    """
    d = ptr8(dst)
    r = ptr8(ring)
    ch = ptr8(chans)
    i = 0
    loff = 0
    sat = 0
    while i < n:
        s0 = r[roff]
        if (s0 & 0xF0) != 0xC0:
            break
        if (s0 & 0x0F) or r[roff + 1] or (r[roff + 2] & 0xF0):
            loff = 1
        j = 0
        while j < nch:
            s = roff + ch[j]
            b0 = r[s]
            b1 = r[s + 1]
            b2 = r[s + 2]
            if (b0 == 0x7F and b1 == 0xFF and b2 == 0xFF) or (b0 == 0x80 and b1 == 0 and b2 == 0):
                sat = 1
            d[doff] = b0
            d[doff + 1] = b1
            if bps == 3:
                d[doff + 2] = b2
                doff += 3
            else:
                doff += 2
            j += 1
        roff += rec
        if roff >= cap_bytes:
            roff = 0
        i += 1
    return i | (loff << 16) | (sat << 17)


@micropython.viper
def _run_invalid(ring, roff: int, rec: int, cap_bytes: int, n: int) -> int:
    """How many consecutive records from roff (at most n) are missed conversions."""
    r = ptr8(ring)
    i = 0
    while i < n:
        if (r[roff] & 0xF0) == 0xC0:
            break
        roff += rec
        if roff >= cap_bytes:
            roff = 0
        i += 1
    return i


class Framer:
    def __init__(self, device) -> None:
        self.dev = device
        self.s = device.sampler
        self.clock = device.clock
        self.chans = bytearray(8)
        self.nch = 8
        self.bps = 3
        self.fmt = P.FMT_24
        self.mask = 0xFF
        self.base_flags = 0
        self.lc = 0
        self.live = False  # frames to send: streaming, or draining after STOP
        self.end_idx = 0  # after STOP: the next index (live drains up to it)
        self.owner = None
        self._sendable = False
        self.rq_first = [0] * _RQ
        self.rq_count = [0] * _RQ
        self.rq_link: list = [None] * _RQ
        self.rq_head = 0
        self.rq_n = 0
        self.q_count = 0
        self.q_busy = False
        self.q_oldest = 0
        self._turn = 0
        self._resent_tick = 0
        self.pend_first = 0
        self.pend_count = 0
        self.frames_live = 0
        self.frames_resent = 0
        self.ring_lost = 0  # cause 2, since START

    def configure(self, channel_mask: int, fmt: int, test_mode: bool) -> None:
        n = 0
        for c in range(8):
            if channel_mask & (1 << c):
                self.chans[n] = 3 + 3 * c
                n += 1
        self.nch = n
        self.mask = channel_mask
        self.fmt = fmt
        self.bps = 3 if fmt == P.FMT_24 else 2
        self.base_flags = P.FLAG_TEST_MODE if test_mode else 0

    def samples_per_frame(self, link) -> int:
        return P.samples_per_frame(link.frame_budget(), self.nch, self.fmt)

    # -- stream control ----------------------------------------------------------------
    def start(self, owner) -> None:
        self.owner = owner
        self.lc = 0
        self.live = True
        self.end_idx = -1
        self.rq_n = 0
        self._sendable = owner is not None and owner.connected and owner.secure()
        self.frames_live = self.frames_resent = 0
        self.ring_lost = 0
        self.pend_count = 0

    def stop(self, next_idx: int) -> None:
        self.end_idx = next_idx

    def link_back(self, link) -> None:
        """The owner link (re)connected: live frames resume at the newest sample."""
        if link is self.owner:
            self.s.snapshot()
            self.lc = self.s.s_idx
            self._drop_holes_upto(self.lc)

    # -- RESEND -----------------------------------------------------------------------
    def resend(self, link, rel_first: int, count: int) -> int:
        """Queue the ring's part of [next + rel_first, + count) for `link`.

        rel_first is relative to the next index (negative = in the past); sets q_count
        (samples queued) and returns the relative start queued; q_busy is set when the
        RESEND queue is full. Nothing in the future or older than the ring is queued.
        """
        s = self.s
        s.snapshot()
        self.q_count = 0
        self.q_busy = False
        self.q_oldest = -s.s_count
        if rel_first >= 0:
            return rel_first
        a = rel_first
        b = rel_first + count  # rel_first in [-2**30, 0), count < 2**30: fits a small int
        lo = -s.s_count
        if s.s_count >= s.cap and s.running:
            # a full ring overwrites its oldest samples as it goes: the oldest eighth of a
            # second (at most an eighth of the ring) would be gone before it could be sent,
            # so it is not promised (the response's oldest_index says so)
            m = s.rate >> 3
            if m > s.cap >> 3:
                m = s.cap >> 3
            lo += m
        self.q_oldest = lo
        if a < lo:
            a = lo
        if b > 0:
            b = 0
        if b <= a:
            return rel_first
        if self.rq_n >= _RQ:
            self.q_busy = True
            return rel_first
        i = (self.rq_head + self.rq_n) % _RQ
        self.rq_first[i] = (s.s_idx + a) & MASK30
        self.rq_count[i] = b - a
        self.rq_link[i] = link
        self.rq_n += 1
        self.q_count = b - a
        return a

    # -- the work -----------------------------------------------------------------------
    def begin_tick(self) -> None:
        self._resent_tick = 0

    def tick(self) -> int:
        """Fill free data slots; -> frames built. Called by the device's main loop."""
        s = self.s
        s.snapshot()
        built = 0
        owner = self.owner
        sendable = owner is not None and owner.connected and owner.secure()
        if sendable and not self._sendable:
            self.lc = s.s_idx  # back after an outage: resume at the newest sample
            self._drop_holes_upto(self.lc)
        self._sendable = sendable
        while True:
            did = 0
            # one resent frame after each live frame, and one per tick while live is idle;
            # all it can while the range is near the ring's overwrite edge (live can wait:
            # the newest samples have the whole ring's time before they are overwritten)
            if self.rq_n and (
                self._turn
                or self._rq_urgent()
                or (not self._live_ready(sendable) and not self._resent_tick)
            ):
                did = self._resend_frame()
                self._turn = 0
                if did > 0:
                    self._resent_tick = 1
            if not did and self.live and sendable:
                did = self._live_frame()
                if did > 0:
                    self._turn = 1
            if did <= 0:
                break
            built += 1
        if built or not self.live:
            self._flush_lost()
        if self.live and self.end_idx >= 0 and self.lc == self.end_idx:
            self.live = False  # drained after STOP
            self._flush_lost()
        return built

    def _rq_urgent(self) -> bool:
        s = self.s
        if s.s_count < s.cap or not s.running:
            return False
        back = (s.s_idx - self.rq_first[self.rq_head]) & MASK30
        return back > s.s_count - (s.s_count >> 2)  # within the oldest quarter of the ring

    def _live_ready(self, sendable: bool) -> bool:
        return self.live and sendable and ((self.s.s_idx - self.lc) & MASK30) > 0

    def _live_frame(self) -> int:
        s = self.s
        link = self.owner
        avail = (s.s_idx - self.lc) & MASK30
        if avail == 0:
            return 0
        if avail > s.s_count:
            self._ring_lost(self.lc, avail - s.s_count)
            self.lc = (s.s_idx - s.s_count) & MASK30
            avail = s.s_count
            if avail == 0:
                return 0
        spf = self.samples_per_frame(link)
        if spf <= 0:
            return 0
        n = spf if avail >= spf else avail
        if avail < spf and self.end_idx < 0:
            # partial frame only when the oldest waiting sample is getting stale
            roff = s.slot_of(self.lc)
            t = self._ticks_at(roff)
            if s.board.ticks_diff(s.board.ticks_us(), t) < MAX_LATENCY_US:
                return 0
        got = self._frame(link, self.lc, n, 0)
        if got < 0:
            return -1
        if got == 0:
            skip = _run_invalid(s.ring, s.slot_of(self.lc), s.rec, s.cap_bytes, avail)
            self.lc = (self.lc + skip) & MASK30
            self._drop_holes_upto(self.lc)
            return 1 if skip else 0
        self.lc = (self.lc + got) & MASK30
        self.frames_live += 1
        return 1

    def _resend_frame(self) -> int:
        s = self.s
        i = self.rq_head
        link = self.rq_link[i]
        first = self.rq_first[i]
        left = self.rq_count[i]
        if not (link.connected and link.secure()):
            self._pop_rq()
            return 1
        back = (s.s_idx - first) & MASK30
        if back > s.s_count:  # part of the range was overwritten before we got to it
            gone = back - s.s_count
            if gone > left:
                gone = left
            self._ring_lost(first, gone)
            first = (first + gone) & MASK30
            left -= gone
            if left <= 0:
                self._pop_rq()
                return 1
        spf = self.samples_per_frame(link)
        if spf <= 0:
            return 0
        n = spf if left >= spf else left
        got = self._frame(link, first, n, P.FLAG_RESENT)
        if got < 0:
            return -1
        if got == 0:
            got = _run_invalid(s.ring, s.slot_of(first), s.rec, s.cap_bytes, left)
        else:
            self.frames_resent += 1
        first = (first + got) & MASK30
        left -= got
        if left <= 0:
            self._pop_rq()
        else:
            self.rq_first[i] = first
            self.rq_count[i] = left
        return 1

    def _pop_rq(self) -> None:
        self.rq_link[self.rq_head] = None
        self.rq_head = (self.rq_head + 1) % _RQ
        self.rq_n -= 1

    def _ticks_at(self, roff: int) -> int:
        r = self.s.ring
        o = roff + self.s.L
        return r[o] | (r[o + 1] << 8) | (r[o + 2] << 16) | (r[o + 3] << 24)

    def _frame(self, link, idx: int, n: int, flags: int) -> int:
        """One DATA frame of up to n samples from idx; -> samples (0: idx is missed, -1: no slot)."""
        q = link.data
        slot = q.slot()
        if slot is None:
            return -1
        s = self.s
        roff = s.slot_of(idx)
        r = _pack(slot, _PAYLOAD, s.ring, roff, s.rec, s.cap_bytes, n, self.chans, self.nch, self.bps)
        got = r & 0xFFFF
        if got == 0:
            return 0
        # an IRQ may have overwritten the oldest records while we copied (hardware only)
        s.snapshot()
        if ((s.s_idx - idx) & MASK30) > s.s_count:
            return 0 if flags else -1
        f = flags | self.base_flags
        if r & 0x10000:
            f |= P.FLAG_LEAD_OFF
        if r & 0x20000:
            f |= P.FLAG_SATURATED
        if self.dev.battery_low:
            f |= P.FLAG_BATTERY_LOW
        self.clock.at(self._ticks_at(roff))
        P.write_data_header(
            slot, HEADROOM, f, self.fmt, link.next_data_seq(), self.mask, got,
            s.wire_hi(idx), idx & 0xFFFF, self.clock.out_hi, self.clock.out_lo,
        )
        total = P.finish_frame(slot, HEADROOM, P.DATA_HEADER_LEN + got * self.nch * self.bps)
        q.commit(total)
        return got

    # -- loss accounting ----------------------------------------------------------------
    def _ring_lost(self, first: int, count: int) -> None:
        """[first, first+count) left the ring unsent: report it minus missed conversions."""
        s = self.s
        cur = first
        left = count
        st = s.board.irq_off()
        try:
            k = 0
            while k < s.h_n and left > 0:
                j = (s.h_head + k) % QN
                hf = s.h_first[j]
                hc = s.h_count[j]
                k += 1
                d = (hf - cur) & MASK30  # hole start relative to cur
                if d >= 0x20000000:  # hole starts before cur
                    over = ((cur - hf) & MASK30)
                    if over >= hc:
                        continue
                    skip = hc - over
                    if skip > left:
                        skip = left
                    cur = (cur + skip) & MASK30
                    left -= skip
                    continue
                if d >= left:
                    break
                if d > 0:
                    self._report_ring(cur, d)
                    cur = (cur + d) & MASK30
                    left -= d
                skip = hc if hc < left else left
                cur = (cur + skip) & MASK30
                left -= skip
        finally:
            s.board.irq_on(st)
        if left > 0:
            self._report_ring(cur, left)
        self._drop_holes_upto((first + count) & MASK30)

    def _report_ring(self, first: int, count: int) -> None:
        """Coalesce contiguous losses while the link is stuck; one event when it moves."""
        self.ring_lost += count
        if self.pend_count and ((self.pend_first + self.pend_count) & MASK30) == first:
            self.pend_count += count
            return
        self._flush_lost()
        self.pend_first = first
        self.pend_count = count

    def _flush_lost(self) -> None:
        if self.pend_count:
            self.dev.event_overrun(self.pend_first, self.pend_count, P.OVERRUN_RING)
            self.pend_count = 0

    def _drop_holes_upto(self, x: int) -> None:
        """Forget missed-conversion ranges that end at or before index x."""
        s = self.s
        st = s.board.irq_off()
        while s.h_n:
            j = s.h_head
            end = (s.h_first[j] + s.h_count[j]) & MASK30
            if ((x - end) & MASK30) >= 0x20000000:  # end is after x
                break
            s.h_head = (j + 1) % QN
            s.h_n -= 1
        s.board.irq_on(st)
