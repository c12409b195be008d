"""Sampler: the DRDY hard-IRQ handler, the ring buffer, and the device clock.

Everything here that runs per sample (Sampler._drdy, the trigger IRQ) allocates nothing:
it only stores small ints into preallocated bytearrays and lists.

Indices. The protocol's sample index is a u32; the ESP32's small int has 31 bits, so the
sampler counts in 30 bits (`w_idx`, wrapping at 2**30) plus a 2-bit epoch (`w_ep`, bits 30-31
of the u32). Every index the firmware holds is at most one ring's length behind w_idx, so
its epoch follows from w_idx (`wire_hi`). Device time is kept the same way in two 16-bit
halves (DeviceClock), fed by the board's ticks, whose period is 2**30 on the ESP32.

Ring. One record per conversion: the bytes read from the ADS1299 (3-byte status word, then
3 bytes per channel up to the highest enabled one) followed by the board ticks of DRDY
(u32 LE). A conversion the handler missed keeps its index and is marked by a zero status
byte (a real status word always starts with 0b1100), so the framer never sends it and the
sample index stays the conversion count (docs/protocol.md section 2).

Missed conversions are found from DRDY times: the ADS1299 has no sample counter, so a gap
of k periods between two handler runs means k - 1 conversions were lost. The count is exact
while the IRQ latency varies by less than half a period (docs/firmware.md). The handler
reads only while DRDY is low (fresh data): a callback that finds it high again is stale.
"""

from micropython import const

MASK30 = const(0x3FFFFFFF)
FAR = const(0x3FFFFFFF)  # "not within 2**30 of the newest index"
QN = const(16)  # entries of each IRQ -> main loop FIFO


class DeviceClock:
    """32-bit microsecond device clock as two 16-bit halves, from a wrapping tick counter."""

    def __init__(self, ticks_us, ticks_diff) -> None:
        self.ticks_us = ticks_us
        self.ticks_diff = ticks_diff
        self.raw = ticks_us()
        self.hi = 0
        self.lo = 0
        self.out_hi = 0
        self.out_lo = 0

    def update(self) -> None:
        """Advance to the board's ticks now (call more often than every 2**29 µs)."""
        raw = self.ticks_us()
        d = self.ticks_diff(raw, self.raw)
        if d <= 0:
            return
        self.raw = raw
        lo = self.lo + d
        self.hi = (self.hi + (lo >> 16)) & 0xFFFF
        self.lo = lo & 0xFFFF

    def at(self, raw: int) -> None:
        """Device time of a board tick value (a past DRDY) -> out_hi, out_lo."""
        age = self.ticks_diff(self.raw, raw)
        lo = self.lo - age
        hi = self.hi
        if lo < 0:
            b = (-lo + 0xFFFF) >> 16
            lo += b << 16
            hi = (hi - b) & 0xFFFF
        elif lo > 0xFFFF:
            hi = (hi + (lo >> 16)) & 0xFFFF
            lo &= 0xFFFF
        self.out_hi = hi
        self.out_lo = lo

    def now(self) -> None:
        """Device time now -> out_hi, out_lo."""
        self.update()
        self.out_hi = self.hi
        self.out_lo = self.lo


class Sampler:
    """DRDY-driven reads into a ring buffer allocated once at boot."""

    def __init__(self, board, afe, ring) -> None:
        self.board = board
        self.afe = afe
        self.ring = ring  # bytearray allocated once at boot (PSRAM on the real board)
        self.ring_bytes = len(ring)
        self._ticks = board.ticks_us
        self._diff = board.ticks_diff
        self._cs = afe.cs
        self._spi = afe.spi
        self._bufs = [bytearray(3 + 3 * n) for n in range(9)]
        self.running = False
        self.layout(8)
        self.set_rate(2000)
        self._reset_counters()
        # IRQ -> main loop FIFOs (preallocated; the main loop pops them)
        self.ov_first = [0] * QN  # cause-1 overruns: first lost index, count
        self.ov_count = [0] * QN
        self.ov_head = 0
        self.ov_n = 0
        self.lo_idx = [0] * QN  # lead-off changes: index, loff_p, loff_n
        self.lo_p = [0] * QN
        self.lo_n = [0] * QN
        self.lo_head = 0
        self.lo_nq = 0
        self.tr_idx = [0] * QN  # trigger edges: index, ticks, edge
        self.tr_t = [0] * QN
        self.tr_edge = [0] * QN
        self.tr_head = 0
        self.tr_n = 0
        self.fifo_overflows = 0
        # holes (cause-1 ranges) for the framer's account of what the ring lost
        self.h_first = [0] * QN
        self.h_count = [0] * QN
        self.h_head = 0
        self.h_n = 0
        self.hole_overflows = 0
        self.stale = 0  # DRDY callbacks that found nothing new to read
        self.trigger_pin = None
        self.trigger_invert = 1 if getattr(board, "TRIGGER_ACTIVE_LOW", False) else 0

    def _reset_counters(self) -> None:
        self.w_off = 0
        self.w_idx = 0
        self.w_ep = 0
        self.count = 0
        self.n_read = 0
        self.t_last = 0
        self.lost = 0  # conversions missed since START (cause 1)
        self.loff_p = 0
        self.loff_n = 0

    # -- configuration (not while running) -------------------------------------------
    def layout(self, hi_ch: int) -> None:
        """Record layout for reads up to channel hi_ch (1..8): capacity follows."""
        self.hi_ch = hi_ch
        self.L = 3 + 3 * hi_ch
        self.rec = self.L + 4
        self.cap = self.ring_bytes // self.rec
        self.cap_bytes = self.cap * self.rec
        self.rbuf = self._bufs[hi_ch]

    def set_rate(self, rate_hz: int) -> None:
        self.rate = rate_hz
        self.p16 = 16_000_000 // rate_hz  # period in 1/16 µs
        self.period_us = 1_000_000 // rate_hz
        self.gap_us = (3 * self.p16) // 32  # 1.5 periods: anything longer lost conversions

    def start(self) -> None:
        """Index 0 is the next conversion; the ring starts empty."""
        self._reset_counters()
        self.ov_n = self.lo_nq = self.tr_n = self.h_n = 0
        self.running = True
        self.afe.drdy.irq(handler=self._drdy, trigger=1, hard=True)  # IRQ_FALLING
        self.afe.start()

    def stop(self) -> None:
        self.afe.stop()
        self.running = False
        self.afe.drdy.irq(handler=None)

    def attach_trigger(self, pin) -> None:
        self.trigger_pin = pin
        pin.irq(handler=self._trigger, trigger=3, hard=True)  # both edges

    # -- IRQ handlers (hot path: no allocation) ---------------------------------------
    def _drdy(self, pin) -> None:
        t = self._ticks()
        if pin():
            # DRDY is high again: this conversion was read already. On the ESP32 port pin
            # IRQs are scheduled callbacks (hard=True is not honoured there), so a delayed
            # service can queue several calls for one read; only the first may read.
            self.stale += 1
            return
        cs = self._cs
        rbuf = self.rbuf
        cs(0)
        self._spi.readinto(rbuf)
        cs(1)
        if not self.running:
            return
        if self.n_read:
            dt = self._diff(t, self.t_last)
            if dt > self.gap_us:
                self._missed(dt)
        else:
            self.n_read = 1
        self.t_last = t
        ring = self.ring
        o = self.w_off
        L = self.L
        ring[o : o + L] = rbuf
        o += L
        ring[o] = t & 0xFF
        ring[o + 1] = (t >> 8) & 0xFF
        ring[o + 2] = (t >> 16) & 0xFF
        ring[o + 3] = (t >> 24) & 0xFF
        p = ((rbuf[0] & 0x0F) << 4) | (rbuf[1] >> 4)
        n = ((rbuf[1] & 0x0F) << 4) | (rbuf[2] >> 4)
        if p != self.loff_p or n != self.loff_n:
            self.loff_p = p
            self.loff_n = n
            if self.lo_nq < QN:
                i = (self.lo_head + self.lo_nq) % QN
                self.lo_idx[i] = self.w_idx
                self.lo_p[i] = p
                self.lo_n[i] = n
                self.lo_nq += 1
            else:
                self.fifo_overflows += 1
        self._advance()

    def _advance(self) -> None:
        o = self.w_off + self.rec
        self.w_off = 0 if o >= self.cap_bytes else o
        i = (self.w_idx + 1) & MASK30
        self.w_idx = i
        if i == 0:
            self.w_ep = (self.w_ep + 1) & 3
        if self.count < self.cap:
            self.count += 1

    def _missed(self, dt: int) -> None:
        if dt < 0x4000000:
            k = (dt * 16 + (self.p16 >> 1)) // self.p16 - 1
        else:  # a stall of more than 67 s: whole-µs periods are precise enough
            k = (dt + (self.period_us >> 1)) // self.period_us - 1
        if k <= 0:
            return
        self.lost += k
        first = self.w_idx
        if self.ov_n < QN:
            i = (self.ov_head + self.ov_n) % QN
            self.ov_first[i] = first
            self.ov_count[i] = k
            self.ov_n += 1
        else:
            self.fifo_overflows += 1
        if self.h_n < QN:
            i = (self.h_head + self.h_n) % QN
            self.h_first[i] = first
            self.h_count[i] = k
            self.h_n += 1
        else:
            self.hole_overflows += 1
        ring = self.ring
        m = k if k < self.cap else self.cap
        extra = k - m
        for _ in range(m):
            ring[self.w_off] = 0  # status byte 0: no conversion here
            self._advance()
        if extra:
            self.w_off = (self.w_off + (extra % self.cap) * self.rec) % self.cap_bytes
            room = MASK30 - self.w_idx
            if extra > room:
                self.w_idx = extra - room - 1
                self.w_ep = (self.w_ep + 1) & 3
            else:
                self.w_idx += extra

    def _trigger(self, pin) -> None:
        t = self._ticks()
        if self.tr_n < QN:
            i = (self.tr_head + self.tr_n) % QN
            self.tr_idx[i] = self.w_idx if self.running else -1
            self.tr_t[i] = t
            self.tr_edge[i] = pin() ^ self.trigger_invert  # 1: the stimulus output rose
            self.tr_n += 1
        else:
            self.fifo_overflows += 1

    # -- main-loop side ---------------------------------------------------------------
    def snapshot(self) -> None:
        """Consistent copy of the write state (IRQs off for a few bytecodes)."""
        st = self.board.irq_off()
        self.s_idx = self.w_idx
        self.s_ep = self.w_ep
        self.s_off = self.w_off
        self.s_count = self.count
        self.board.irq_on(st)

    def wire_hi(self, idx: int) -> int:
        """High 16 bits of the u32 index of `idx` (a 30-bit index at most 2**29 behind w_idx)."""
        ep = self.w_ep if idx <= self.w_idx else (self.w_ep - 1) & 3
        return (ep << 14) | (idx >> 16)

    def rel(self, hi: int, lo: int) -> int:
        """Signed distance of a u32 index (hi, lo) from the next index; +-FAR when far."""
        x = ((hi & 0x3FFF) << 16) | lo
        e = ((hi >> 14) - self.w_ep) & 3
        w = self.w_idx
        if e == 0:
            return x - w
        if e == 3 and x > w:
            return -(w - x + MASK30 + 1)
        if e == 1 and x < w:
            return x - w + MASK30 + 1
        return FAR if e == 1 or e == 2 else -FAR

    def slot_of(self, idx: int) -> int:
        """Byte offset of the record of `idx` (must be within the ring)."""
        back = (self.w_idx - idx) & MASK30
        o = self.w_off - back * self.rec
        while o < 0:
            o += self.cap_bytes
        return o

    def oldest(self) -> int:
        return (self.w_idx - self.count) & MASK30
