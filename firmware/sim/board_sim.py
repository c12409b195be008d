"""The simulated XIAO ESP32S3 board: the real board file over the machine shim, plus the
simulated world's clock and the task that delivers its hardware events. Never deployed.

Environment (set by `muwatch sim-device` or a test): MUWATCH_SIM_SIGNAL (signal stem),
MUWATCH_SIM_RING_BYTES, MUWATCH_SIM_TIME=virtual, MUWATCH_SIM_SCENARIO, MUWATCH_SIM_STATS,
MUWATCH_SIM_IMPEDANCE_KOHM, MUWATCH_SIM_UID, MUWATCH_SIM_BATTERY_MV.
"""

import gc
import os

gc.collect()
_HEAP_BEFORE_SIM = gc.mem_alloc()

import asyncio
import simenv
from ads1299_model import ADS1299, Source
from boards.xiao_esp32s3 import BOARD_PULL_UP, PINS
from boards.xiao_esp32s3 import Board as Xiao

_PERIOD = simenv.TICKS_PERIOD
_HALF = _PERIOD >> 1
_MASK = _PERIOD - 1


def _ticks_diff(a: int, b: int) -> int:
    """time.ticks_diff for a clock that wraps at 2**30 (the ESP32's), not the unix port's."""
    return ((a - b + _HALF) & _MASK) - _HALF


class SimBoard(Xiao):
    NAME = "sim-xiao-esp32s3"

    def __init__(self) -> None:
        world = simenv.world
        self.world = world
        stem = os.getenv("MUWATCH_SIM_SIGNAL") or None
        chip = ADS1299(
            world,
            sck=PINS["SPI_SCK"],
            mosi=PINS["SPI_MOSI"],
            miso=PINS["SPI_MISO"],
            cs=PINS["AFE_CS"],
            drdy=PINS["AFE_DRDY"],
            start=PINS["AFE_START"],
            reset=PINS["AFE_RESET"],
            pwdn=PINS["AFE_PWDN"],
            source=Source(stem),
        )
        kohm = os.getenv("MUWATCH_SIM_IMPEDANCE_KOHM")
        if kohm:
            chip.impedance_ohm = [int(float(kohm) * 1000)] * 8
        self.chip = chip
        world.adc_pin = PINS["BATTERY_ADC"]
        world.trigger_pin = PINS["TRIGGER_IN"]
        world.charge_pin = PINS["CHARGE_STAT"]
        world.trigger_active_low = Xiao.TRIGGER_ACTIVE_LOW
        for name in BOARD_PULL_UP:
            world.idle_levels[PINS[name]] = 1
        super().__init__()
        self.ticks_us = world.ticks_us
        self.ticks_ms = world.ticks_ms
        self.ticks_diff = _ticks_diff
        ring = os.getenv("MUWATCH_SIM_RING_BYTES")
        if ring:
            self.RING_BYTES = int(ring)
        self._last_stats = 0
        self._live_peak = 0
        self._alloc_last = -1
        self._alloc_peak_rate = 0
        gc.collect()
        # heap the simulation itself holds (shims, model, source buffer): not device memory
        self.sim_overhead = gc.mem_alloc() - _HEAP_BEFORE_SIM

    def sleep_us(self, us: int) -> None:
        self.world.sleep_us(us)

    def sleep_ms(self, ms: int) -> None:
        self.world.sleep_us(ms * 1000)

    def tasks(self, device) -> list:
        return [self._deliver()]

    async def _deliver(self) -> None:
        """Hardware events (DRDY, trigger, timers) delivered about every millisecond."""
        world = self.world
        while True:
            world.pump()
            await asyncio.sleep_ms(1)

    def stats(self, dev) -> None:
        """Heap and stream counters for benchmarks, in a file (never on the port).

        Once a second: the bytes allocated since the last call (the firmware itself never
        collects; a steady stream should allocate nothing), then a collection (here, in the
        simulation only) to measure the live heap and its peak.
        """
        if not simenv.world.stats_path:
            return
        import gc

        before = gc.mem_alloc()
        if self._alloc_last >= 0 and before - self._alloc_last > self._alloc_peak_rate:
            self._alloc_peak_rate = before - self._alloc_last
        fr = dev.framer
        extra = {
            "heap_high_water": self._live_peak,
            "heap_total": before + gc.mem_free(),
            "alloc_per_s_peak": self._alloc_peak_rate,
            "alloc_last_s": before - self._alloc_last if self._alloc_last >= 0 else -1,
            "sim_overhead": self.sim_overhead,
            "ring_bytes": dev.sampler.ring_bytes,
            "frames_live": fr.frames_live,
            "frames_resent": fr.frames_resent,
            "lost_missed": dev.sampler.lost,
            "lost_ring": fr.ring_lost,
            "stale_irqs": dev.sampler.stale,
            "streaming": dev.streaming,
            "next_index": dev.sampler.w_idx,
        }
        simenv.write_stats(extra)
        gc.collect()
        live = gc.mem_alloc()
        if live > self._live_peak:
            self._live_peak = live
        self._alloc_last = live
