"""The device: board, front-end, sampler, framer, commands, config, events and links together.

`Device.tick()` is the main loop's body (every TICK_MS): advance the device clock, turn what
the IRQ handlers queued (missed conversions, lead-off changes, trigger edges) into events,
fill data frames, hand events to the links and flush every link; once a second it reads the
battery and records the heap in use. tick() allocates nothing in steady streaming
(tests run it under micropython.heap_lock()).
"""

import gc

import asyncio
import micropython
from micropython import const

from . import VERSION
from . import protocol as P
from .afe.ads1299 import ADS1299, AFEError
from .commands import Commands
from .config import Config
from .framer import Framer
from .link import HEADROOM
from .sampler import MASK30, QN, DeviceClock, Sampler

TICK_MS = const(2)
_EV_SLOTS = const(24)
_EV_SIZE = const(2 + 160)
_HOUSEKEEP_MS = const(1000)

# LiPo open-circuit voltage (mV) at 100, 90, ..., 0 % (typical single-cell curve)
_LIPO_MV = (4200, 4060, 3980, 3920, 3870, 3820, 3790, 3770, 3740, 3680, 3300)


def battery_percent(mv: int) -> int:
    t = _LIPO_MV
    if mv >= t[0]:
        return 100
    for i in range(1, len(t)):
        if mv >= t[i]:
            hi, lo = t[i - 1], t[i]
            return 100 - 10 * i + (10 * (mv - lo)) // (hi - lo)
    return 0


class Device:
    def __init__(self, board, root: str = "", config=None, ring=None) -> None:
        self.board = board
        if config is None:
            config = Config(root)
            config.load()
        self.config = config
        self.clock = DeviceClock(board.ticks_us, board.ticks_diff)
        self.afe = ADS1299(board)
        self.sampler = Sampler(board, self.afe, ring if ring is not None else bytearray(board.RING_BYTES))
        self.framer = Framer(self)
        self.commands = Commands(self)
        self.links: list = []
        self.streaming = False
        self.owner = None
        self.start_hi = 0
        self.start_lo = 0
        self.battery_low = False
        self.battery_mv = 0
        self.battery_pct = 0
        self.host_time = b""
        self.markers = 0
        self.responses_dropped = 0
        self.finished = False
        self.repl_requested = False
        self._reboot_at = -1
        self._last_house = 0
        self.heap_high_water = 0
        self.afe_ok = False
        self.wdt = None
        self.triggers_idle = 0
        # staged events: [code, body_len, body...] per slot, sent to every secure link
        self._ev = [bytearray(_EV_SIZE) for _ in range(_EV_SLOTS)]
        self._ev_head = 0
        self._ev_n = 0
        self.events_dropped = 0
        self._ev_dropped_told = 0
        uid = board.unique_id()
        self.serial_number = "".join("%02X" % b for b in uid)
        self.name = self.config.get("name") or ("muw-" + self.serial_number[-4:])
        self.fw_version = VERSION
        self.cfg = bytearray(5)

    # -- boot -----------------------------------------------------------------------------
    def boot(self) -> None:
        """Power up the front-end, apply the stored config, announce the boot."""
        for msg in self.config.problems:
            self.log(2, msg)
        self.config.problems = []
        self.board.led(False)
        try:
            self.afe.power_up()
            self.afe_ok = True
        except AFEError as e:
            self.log(3, str(e))
        c = self.config
        self.apply_config(c.get("rate_code"), c.get("channel_mask"), c.get("gain_code"), c.get("mode"), c.get("format"), False)
        if self.board.reset_by_watchdog():
            self.log(2, "restarted by the watchdog")
        self.event_state(P.STATE_REASON_BOOT)
        try:
            self.sampler.attach_trigger(self.board.pin("TRIGGER_IN"))
        except Exception as e:
            self.log(2, "trigger input unavailable: %s" % e)
        wdt_ms = c.get("wdt_ms")
        if wdt_ms:
            self.wdt = self.board.watchdog(wdt_ms)
        self._housekeep(True)

    def apply_config(self, rate: int, mask: int, gain: int, mode: int, fmt: int, persist: bool) -> None:
        if P.RATES_HZ[rate] > self.board.MAX_RATE_HZ:
            self.log(2, "stored rate_code %d above the board ceiling: 2000 Hz used" % rate)
            rate = 3
        cfg = self.cfg
        cfg[0], cfg[1], cfg[2], cfg[3], cfg[4] = rate, mask, gain, mode, fmt
        hi = 8
        while hi > 1 and not mask & (1 << (hi - 1)):
            hi -= 1
        self.sampler.layout(hi)
        self.sampler.set_rate(P.RATES_HZ[rate])
        self.framer.configure(mask, fmt, mode != 0)
        if self.afe_ok:
            self.afe.configure(rate, mask, gain, mode)
        if persist:
            self.config.update(rate_code=rate, channel_mask=mask, gain_code=gain, mode=mode, format=fmt)
            if not self.config.save():
                for msg in self.config.problems:
                    self.log(3, msg)
                self.config.problems = []

    # -- stream control ---------------------------------------------------------------------
    def start_stream(self, link):
        """-> None when streaming started, else the reason (BUSY message)."""
        if self.streaming:
            return "already streaming: STOP first"
        if not self.afe_ok:
            return "front-end not responding (see LOG events); check the ADS1299 wiring"
        if self.battery_mv and self.battery_mv < self.config.get("battery_cutoff_mv"):
            return "battery at %d mV, below the %d mV cut-off: charge first" % (self.battery_mv, self.config.get("battery_cutoff_mv"))
        self.clock.now()
        self.start_hi = self.clock.out_hi
        self.start_lo = self.clock.out_lo
        self.owner = link
        self.framer.start(link)
        self.sampler.start()
        self.streaming = True
        self.board.led(True)  # the LED says "recording"
        self.event_state(P.STATE_REASON_COMMAND)
        return None

    def stop_stream(self, reason: int) -> None:
        if not self.streaming:
            return
        self.sampler.stop()
        self.streaming = False
        self.board.led(False)
        s = self.sampler
        self.framer.stop(s.w_idx)
        self.event_state(reason)

    # -- links ------------------------------------------------------------------------------
    def on_link_up(self, link) -> None:
        self.framer.link_back(link)
        if self.events_dropped != self._ev_dropped_told:
            self.log(2, "%d events dropped while no host was connected" % (self.events_dropped - self._ev_dropped_told))
            self._ev_dropped_told = self.events_dropped

    def on_link_down(self, link) -> None:
        pass  # sampling goes on into the ring; the host asks RESEND after reconnecting

    def on_parsed(self, link, parser) -> None:
        self.commands.on_parsed(link, parser)

    def on_request(self, link, buf, off: int, n: int) -> None:
        """One whole request frame buf[off:off+n] (BLE write) -> one response on link."""
        p = link.parser
        if off:
            buf = memoryview(buf)[off : off + n]
        p.parse_frame(buf, n)
        self.commands.on_parsed(link, p)

    # -- GET_INFO / GET_STATUS bodies ---------------------------------------------------------
    def info_body(self, link, buf, o: int) -> int:
        s = self.sampler
        mask = 0
        for i in range(7):
            if P.RATES_HZ[i] <= self.board.MAX_RATE_HZ:
                mask |= 1 << i
        o = P.put_u8(buf, o, P.VERSION)
        o = P.put_u8(buf, o, 8)
        o = P.put_u8(buf, o, mask)
        o = P.put_u8(buf, o, self.board.VREF_DECIVOLTS)
        o = P.put_u32(buf, o, s.cap >> 16, s.cap & 0xFFFF)
        o = P.put_u8(buf, o, self.framer.samples_per_frame(link))
        for text in (self.fw_version, self.board.NAME, self.serial_number, self.name):
            b = text.encode()
            o = P.put_str(buf, o, b, len(b) if len(b) < 32 else 32)
        return o

    def status_body(self, link, buf, o: int) -> int:
        s = self.sampler
        s.snapshot()
        o = P.put_u8(buf, o, 1 if self.streaming else 0)
        o = P.put_u8(buf, o, self.battery_pct)
        o = P.put_u16(buf, o, self.battery_mv)
        o = P.put_u8(buf, o, s.loff_p)
        o = P.put_u8(buf, o, s.loff_n)
        o = P.put_u32(buf, o, s.wire_hi(s.s_idx), s.s_idx & 0xFFFF)
        old = (s.s_idx - s.s_count) & MASK30
        o = P.put_u32(buf, o, s.wire_hi(old), old & 0xFFFF)
        lost = s.lost + self.framer.ring_lost
        if lost > MASK30:
            lost = MASK30
        o = P.put_u32(buf, o, lost >> 16, lost & 0xFFFF)
        self.clock.now()
        o = P.put_u32(buf, o, self.clock.out_hi, self.clock.out_lo)
        o = P.put_u16(buf, o, link.bad_requests())
        flags = P.LINK_ENCRYPTED if link.secure() else 0
        if link.bonded():
            flags |= P.LINK_BONDED
        if self.battery_low:
            flags |= P.LINK_BATTERY_LOW
        if self.board.usb_power():  # read on request only: nothing in the sampling path
            flags |= P.LINK_USB_POWER
        o = P.put_u8(buf, o, flags)
        for i in range(5):
            buf[o + i] = self.cfg[i]
        return o + 5

    # -- events ---------------------------------------------------------------------------------
    def _ev_begin(self):
        if self._ev_n >= _EV_SLOTS:
            self.events_dropped += 1
            return None
        i = self._ev_head + self._ev_n
        if i >= _EV_SLOTS:
            i -= _EV_SLOTS
        return self._ev[i]

    def _ev_commit(self, code: int, n: int) -> None:
        i = self._ev_head + self._ev_n
        if i >= _EV_SLOTS:
            i -= _EV_SLOTS
        e = self._ev[i]
        e[0] = code
        e[1] = n
        self._ev_n += 1

    def event_overrun(self, first: int, count: int, cause: int) -> None:
        e = self._ev_begin()
        if e is None:
            return
        s = self.sampler
        o = P.put_u32(e, 2, s.wire_hi(first), first & 0xFFFF)
        o = P.put_u32(e, o, count >> 16, count & 0xFFFF)
        o = P.put_u8(e, o, cause)
        self._ev_commit(P.EVT_OVERRUN, o - 2)

    def event_state(self, reason: int) -> None:
        e = self._ev_begin()
        if e is None:
            return
        s = self.sampler
        o = P.put_u8(e, 2, 1 if self.streaming else 0)
        o = P.put_u32(e, o, s.wire_hi(s.w_idx), s.w_idx & 0xFFFF)
        o = P.put_u8(e, o, reason)
        self._ev_commit(P.EVT_STATE, o - 2)

    def log(self, level: int, text) -> None:
        """LOG event (also how config problems and failures reach the host)."""
        e = self._ev_begin()
        if e is None:
            return
        b = text.encode() if isinstance(text, str) else text
        n = len(b) if len(b) < 159 else 159
        P.put_u8(e, 2, level)
        P.put_bytes(e, 3, b, n)
        self._ev_commit(P.EVT_LOG, n + 1)

    log_later = log

    def _irq_events(self) -> None:
        """Turn what the IRQ handlers queued into events (allocation-free)."""
        s = self.sampler
        b = self.board
        while s.ov_n:
            e = self._ev_begin()
            if e is None:
                break
            j = s.ov_head
            first = s.ov_first[j]
            count = s.ov_count[j]
            st = b.irq_off()
            s.ov_head = (j + 1) % QN
            s.ov_n -= 1
            b.irq_on(st)
            o = P.put_u32(e, 2, s.wire_hi(first), first & 0xFFFF)
            o = P.put_u32(e, o, count >> 16, count & 0xFFFF)
            o = P.put_u8(e, o, P.OVERRUN_MISSED)
            self._ev_commit(P.EVT_OVERRUN, o - 2)
        while s.lo_nq:
            e = self._ev_begin()
            if e is None:
                break
            j = s.lo_head
            idx = s.lo_idx[j]
            o = P.put_u32(e, 2, s.wire_hi(idx), idx & 0xFFFF)
            o = P.put_u8(e, o, s.lo_p[j])
            o = P.put_u8(e, o, s.lo_n[j])
            st = b.irq_off()
            s.lo_head = (j + 1) % QN
            s.lo_nq -= 1
            b.irq_on(st)
            self._ev_commit(P.EVT_LEAD_OFF, o - 2)
        while s.tr_n:
            j = s.tr_head
            idx = s.tr_idx[j]
            if idx >= 0:
                e = self._ev_begin()
                if e is None:
                    break
                self.clock.at(s.tr_t[j])
                o = P.put_u32(e, 2, s.wire_hi(idx), idx & 0xFFFF)
                o = P.put_u32(e, o, self.clock.out_hi, self.clock.out_lo)
                o = P.put_u8(e, o, s.tr_edge[j])
                self._ev_commit(P.EVT_TRIGGER, o - 2)
            else:
                self.triggers_idle += 1  # no stream, no sample index to stamp
            st = b.irq_off()
            s.tr_head = (j + 1) % QN
            s.tr_n -= 1
            b.irq_on(st)
        if s.fifo_overflows:
            n = s.fifo_overflows
            s.fifo_overflows = 0
            self.log(3, "IRQ event queue overflowed: %d events lost" % n)

    def _dispatch_events(self) -> None:
        """Staged events -> every connected secure link, in order, when all have room."""
        links = self.links
        while self._ev_n:
            n_targets = 0
            for l in links:
                if l.connected and l.secure():
                    if l.events.count >= l.events.n:
                        return  # a target is full: retry next tick, keep the order
                    n_targets += 1
            if n_targets == 0:
                return  # nobody to tell yet: keep them for the next host
            e = self._ev[self._ev_head]
            code = e[0]
            blen = e[1]
            for l in links:
                if l.connected and l.secure():
                    slot = l.events.slot()
                    P.copy_bytes(slot, HEADROOM + P.EVENT_HEADER_LEN, e, 2, blen)
                    l.events.commit(P.write_event(slot, HEADROOM, l.next_event_seq(), code, blen))
            self._ev_head += 1
            if self._ev_head >= _EV_SLOTS:
                self._ev_head = 0
            self._ev_n -= 1

    # -- the main loop ------------------------------------------------------------------------
    def tick(self) -> None:
        self.clock.update()
        self._irq_events()
        fr = self.framer
        links = self.links
        fr.begin_tick()
        for _ in range(64):  # frames and flushes until caught up or back-pressured
            built = fr.tick()
            self._dispatch_events()
            for l in links:
                if l.connected:
                    l.flush()
            if not built:
                break
        if self.wdt is not None:
            self.wdt.feed()
        now = self.board.ticks_ms()
        if self._reboot_at >= 0 and self.board.ticks_diff(now, self._reboot_at) >= 0:
            self.board.reset()
        if self.board.ticks_diff(now, self._last_house) >= _HOUSEKEEP_MS:
            self._housekeep(False)

    def _housekeep(self, first: bool) -> None:
        self._last_house = self.board.ticks_ms()
        # no gc.collect() here: a collection scans the whole heap (the ring included) and
        # would delay DRDY service on the board; streaming allocates nothing, so none runs
        used = gc.mem_alloc()
        if used > self.heap_high_water:
            self.heap_high_water = used
        mv = self.board.battery_mv()
        self.battery_mv = mv
        self.battery_pct = battery_percent(mv)
        c = self.config.values
        if mv < c["battery_low_mv"]:
            if not self.battery_low:
                self.battery_low = True
                e = self._ev_begin()
                if e is not None:
                    o = P.put_u16(e, 2, mv)
                    o = P.put_u8(e, o, self.battery_pct)
                    self._ev_commit(P.EVT_BATTERY_LOW, o - 2)
        elif mv > c["battery_low_mv"] + 100:
            self.battery_low = False
        if mv < c["battery_cutoff_mv"] and self.streaming:
            self.stop_stream(P.STATE_REASON_BATTERY)
        if not first:
            self.board.stats(self)

    def reboot_soon(self) -> None:
        self._reboot_at = (self.board.ticks_ms() + 100) & 0x3FFFFFFF

    # -- asyncio entry ------------------------------------------------------------------------
    async def _main(self) -> None:
        while not self.finished:
            self.tick()
            await asyncio.sleep_ms(TICK_MS)

    async def run(self) -> None:
        """Run links, board tasks and the main loop until the serial link hands the port to
        the REPL. An exception in the main loop ends run() with it (main.py records it and
        resets the board) instead of leaving a half-alive device."""
        # asyncio's default handler prints, and stdout is the protocol port: log instead
        asyncio.get_event_loop().set_exception_handler(self._task_error)
        main = asyncio.create_task(self._main())
        tasks = [asyncio.create_task(coro) for coro in self.board.tasks(self)]
        link_tasks = [asyncio.create_task(l.run()) for l in self.links]
        try:
            while not main.done() and not link_tasks[0].done():
                await asyncio.sleep_ms(50)
            if main.done():
                await main  # re-raises what stopped the main loop
        finally:
            self.finished = True
            for t in tasks + link_tasks:
                if not t.done():
                    t.cancel()
            self.shutdown()

    def _task_error(self, loop, context) -> None:
        exc = context.get("exception")
        self.log(3, "task failed: %r" % (exc,))

    def shutdown(self) -> None:
        """Leave the hardware quiet (sampling stopped, IRQs detached) for the REPL."""
        if self.streaming:
            self.stop_stream(P.STATE_REASON_COMMAND)
        try:
            self.afe.drdy.irq(handler=None)
            if self.sampler.trigger_pin is not None:
                self.sampler.trigger_pin.irq(handler=None)
        except Exception:
            pass
        if self.wdt is not None:
            # an ESP32 watchdog cannot be stopped: keep it fed while a developer uses the REPL
            self.board.feed_watchdog_in_background(self.wdt, self.config.get("wdt_ms"))
        micropython.kbd_intr(3)
