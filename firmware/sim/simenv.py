"""The simulated world around the firmware on the unix port (never deployed).

One module-level `world` holds what the real board gets from physics: a microsecond clock,
the GPIO levels, the ADS1299 chip (ads1299_model), a battery, the trigger input and a
watchdog. Shims in machine.py talk to it.

Time. `world.now` is the simulated time in µs since the process started. In "real" mode it
follows the host's monotonic clock; in "virtual" mode it moves only when a test calls
`advance()`, so a full minute of sampling runs in seconds of CPU time and is exactly
repeatable. `ticks_us()` is what the board's clock returns: `now` (or, while a DRDY
"interrupt" is being delivered, the time that interrupt fired) modulo 2**30, the
ESP32's ticks period, starting near a wrap so that every run crosses one.

Interrupts. The unix port has no preemption to borrow, so hardware events are delivered by
`pump()`: it walks forward through everything due up to `now` (conversions, trigger edges,
scheduled scenario actions) in time order and calls the registered IRQ handlers one event
at a time, with the clock reading the event's own time. The board runs pump() as an asyncio
task and the firmware's own polling calls reach it too, so handlers run late in wall time
but see exact times. Conversions more than `max_lag_us` behind are lost the way a real
ADS1299 loses them (no FIFO): they are never delivered, so the firmware's gap detection
counts them (cause 1).

Scenario. Environment MUWATCH_SIM_SCENARIO names a JSON list of timed actions
({"t": seconds, ...}): "battery_mv", "lead_off": [loff_p, loff_n], "trigger": 0/1,
"stall_ms" (DRDY edges not serviced for that long), "feed_wdt": false/true,
"usb_power": true/false (USB cable plugged: CHARGE_STAT low; default on battery, pin high).
"""

import json
import os
import time

import micropython

TICKS_PERIOD = 1 << 30
TICKS_START = TICKS_PERIOD - 3_000_000  # first µs tick wrap 3 s after boot
TICKS_START_MS = TICKS_PERIOD - 5_000  # first ms tick wrap 5 s after boot

MODE_REAL = 0
MODE_VIRTUAL = 1


def _getenv(name, default=None):
    v = os.getenv(name)
    return default if v is None or v == "" else v


class World:
    def __init__(self) -> None:
        self.mode = MODE_VIRTUAL if _getenv("MUWATCH_SIM_TIME") == "virtual" else MODE_REAL
        self.now = 0
        self._host_last = time.ticks_us()
        self._irq_time = -1
        self.max_lag_us = int(_getenv("MUWATCH_SIM_MAX_LAG_MS", "250")) * 1000
        self.irq_latency_us = 12  # DRDY edge to the first line of the handler, typical ESP32-S3
        self.pins = {}  # gpio number -> machine.Pin
        self.adc_mv = {}  # gpio number -> millivolts at the pin
        self.battery_mv = int(_getenv("MUWATCH_SIM_BATTERY_MV", "3950"))
        self.divider = 2  # hardware/pinmap.csv: battery through a 1:2 divider
        self.adc_pin = -1
        self.trigger_pin = -1
        self.charge_pin = -1  # CHARGE_STAT, set by the simulated board from its pin map
        self.trigger_active_low = False
        self.idle_levels = {}  # gpio -> level held by a board pull-up/down
        self.chip = None  # ads1299_model.ADS1299, attached by the SPI shim
        self.stall_until = -1
        self.wdt_deadline = -1
        self.wdt_timeout_us = 0
        self.wdt_resets = 0
        self.reset_requested = False
        self.scenario = []
        self._scenario_i = 0
        self.unique_id = bytes.fromhex(_getenv("MUWATCH_SIM_UID", "a1b2c3d4e5f6"))
        self.stats_path = _getenv("MUWATCH_SIM_STATS")
        self.reset_cause = int(_getenv("MUWATCH_SIM_RESET_CAUSE", "1"))  # 1 power-on
        self.irq_off = 0
        self.heap_locked = False  # a test holds micropython.heap_lock(): see pump()
        self.timers = []  # [timer, mode, period_us, due_us, callback]
        self._load_scenario(_getenv("MUWATCH_SIM_SCENARIO"))

    # -- time -----------------------------------------------------------------------
    def _sync(self) -> None:
        if self.mode == MODE_REAL:
            h = time.ticks_us()
            d = time.ticks_diff(h, self._host_last)
            self._host_last = h
            if d > 0:
                self.now += d

    def ticks_us(self) -> int:
        if self._irq_time >= 0:
            t = self._irq_time
        else:
            self._sync()
            t = self.now
        return (TICKS_START + t) % TICKS_PERIOD

    def ticks_ms(self) -> int:
        """time.ticks_ms() of an ESP32: its own counter, also wrapping at 2**30."""
        t = self._irq_time
        if t < 0:
            self._sync()
            t = self.now
        return (TICKS_START_MS + t // 1000) % TICKS_PERIOD

    def advance(self, us: int) -> None:
        """Virtual mode: move time forward by `us`, delivering everything due on the way."""
        end = self.now + us
        step = 1000
        while self.now < end:
            self.now = min(end, self.now + step)
            self.pump()

    def sleep_us(self, us: int) -> None:
        if self.mode == MODE_VIRTUAL:
            self.advance(us)
        else:
            time.sleep_us(us)
            self.pump()

    # -- interrupts -----------------------------------------------------------------
    def pump(self) -> int:
        """Deliver every hardware event due up to now, in time order; -> events delivered.

        When a test holds the heap lock (heap_locked), the simulation's own work runs
        unlocked and only the firmware's IRQ handlers run locked (see edge()).
        """
        if self.heap_locked:
            micropython.heap_unlock()
            try:
                return self._pump()
            finally:
                micropython.heap_lock()
        return self._pump()

    def _pump(self) -> int:
        self._sync()
        n = 0
        if self.irq_off:
            return 0
        while True:
            t_chip = self.chip.next_due() if self.chip is not None else -1
            tm = self._next_timer()
            if tm is not None and tm[3] <= self.now and (t_chip < 0 or tm[3] <= t_chip):
                self._fire_timer(tm)
                continue
            t_scn = self.scenario[self._scenario_i][0] if self._scenario_i < len(self.scenario) else -1
            t = -1
            if t_chip >= 0 and t_chip <= self.now:
                t = t_chip
            if t_scn >= 0 and t_scn <= self.now and (t < 0 or t_scn < t):
                self._run_action(self.scenario[self._scenario_i][1])
                self._scenario_i += 1
                continue
            if t < 0:
                break
            if self.now - t > self.max_lag_us or t < self.stall_until:
                self.chip.skip()  # nobody read it in time: overwritten, as on the chip
                continue
            self._irq_time = t + self.irq_latency_us
            try:
                self.chip.convert()
            finally:
                self._irq_time = -1
            n += 1
        self._check_wdt()
        return n

    def edge(self, pin, old: int, new: int) -> None:
        """A pin changed level: run its IRQ handler if the edge matches its trigger."""
        h = pin.handler
        if h is None:
            return
        if (old == 1 and new == 0 and pin.trigger & 1) or (old == 0 and new == 1 and pin.trigger & 2):
            if self.heap_locked:
                micropython.heap_lock()
                try:
                    h(pin)
                finally:
                    micropython.heap_unlock()
            else:
                h(pin)

    # -- soft timers (machine.Timer) ---------------------------------------------------
    def timer_add(self, timer, mode: int, period_ms: int, callback) -> None:
        self.timer_remove(timer)
        self._sync()
        p = period_ms * 1000
        self.timers.append([timer, mode, p, self.now + p, callback])

    def timer_remove(self, timer) -> None:
        self.timers = [t for t in self.timers if t[0] is not timer]

    def _next_timer(self):
        best = None
        for t in self.timers:
            if best is None or t[3] < best[3]:
                best = t
        return best

    def _fire_timer(self, tm) -> None:
        if tm[1] == 0:
            self.timers.remove(tm)
        else:
            tm[3] += tm[2]
        self._irq_time = tm[3] - (tm[2] if tm[1] else 0)
        try:
            if tm[4] is not None:
                if self.heap_locked:
                    micropython.heap_lock()
                    try:
                        tm[4](tm[0])
                    finally:
                        micropython.heap_unlock()
                else:
                    tm[4](tm[0])
        finally:
            self._irq_time = -1

    # -- scenario -------------------------------------------------------------------
    def _load_scenario(self, path) -> None:
        if not path:
            return
        with open(path) as f:
            items = json.load(f)
        out = []
        for it in items:
            out.append((int(float(it["t"]) * 1_000_000), it))
        out.sort(key=lambda x: x[0])
        self.scenario = out

    def _run_action(self, a) -> None:
        if "battery_mv" in a:
            self.battery_mv = int(a["battery_mv"])
        if "usb_power" in a:
            self.set_usb_power(bool(a["usb_power"]))
        if "lead_off" in a and self.chip is not None:
            p, n = a["lead_off"]
            self.chip.electrodes_off(int(p), int(n))
        if "trigger" in a:
            self.set_trigger(int(a["trigger"]))
        if "stall_ms" in a:
            self.stall_until = self.now + int(a["stall_ms"]) * 1000

    def set_usb_power(self, present: bool) -> None:
        """USB cable plugged (True) or not: CHARGE_STAT is active low, held high by the board's
        pull-up while on battery."""
        level = 0 if present else 1
        self.idle_levels[self.charge_pin] = level
        self.set_input(self.charge_pin, level)

    def trigger_gpio(self) -> int:
        return self.trigger_pin  # set by the simulated board from its pin map

    def set_trigger(self, stimulus: int) -> None:
        """The stimulator's sync output went high (1) or low (0); the pin follows, inverted
        when the board's optocoupler inverts (TRIGGER_ACTIVE_LOW)."""
        level = stimulus ^ 1 if self.trigger_active_low else stimulus
        self.set_input(self.trigger_pin, level)

    def set_input(self, gpio: int, level: int) -> None:
        """Drive an input pin from outside (trigger, charger status)."""
        pin = self.pins.get(gpio)
        if pin is None:
            return
        old = pin._level
        pin._level = level
        if old != level:
            nested = self._irq_time >= 0  # inside another delivery: keep its time
            if not nested:
                self._irq_time = self.now + self.irq_latency_us
            try:
                self.edge(pin, old, level)
            finally:
                if not nested:
                    self._irq_time = -1

    # -- analog ---------------------------------------------------------------------
    def pin_mv(self, gpio: int) -> int:
        if gpio in self.adc_mv:
            return self.adc_mv[gpio]
        if gpio == self.adc_pin:
            return self.battery_mv // self.divider
        return 0

    # -- watchdog -------------------------------------------------------------------
    def wdt_start(self, timeout_ms: int) -> None:
        self.wdt_timeout_us = timeout_ms * 1000
        self.wdt_feed()

    def wdt_feed(self) -> None:
        if self.wdt_timeout_us:
            self._sync()
            self.wdt_deadline = self.now + self.wdt_timeout_us

    def _check_wdt(self) -> None:
        if self.wdt_deadline >= 0 and self.now > self.wdt_deadline:
            self.wdt_resets += 1
            self.wdt_deadline = -1
            raise SystemExit(RESET_EXIT_WDT)


RESET_EXIT = 99  # machine.reset(): the launcher starts the firmware again
RESET_EXIT_WDT = 98  # watchdog expired: the launcher starts the firmware again

world = World()


def write_stats(extra) -> None:
    """Sim-only diagnostics (heap, chip counters) for benchmarks: a JSON file, never the port."""
    if not world.stats_path:
        return
    d = {"now_us": world.now, "wdt_resets": world.wdt_resets}
    if world.chip is not None:
        d.update(world.chip.stats())
    d.update(extra)
    tmp = world.stats_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(d, f)
    os.rename(tmp, world.stats_path)
