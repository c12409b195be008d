"""Benchmarks of the firmware on the simulated device (`make bench AREA=firmware`).

Serial streams of 60 s at 8 ch x 2 kHz and 8 ch x 4 kHz from the simulated device (main.py
unchanged on the simulated board, heap limited to the ring buffer + the no-PSRAM ESP32-S3
budget): samples lost, samples differing from the signal source, CRC errors; the
MicroPython process's CPU share (against one core, and against the same firmware idle,
measured in the same run); the heap high-water mark; and 60 s of random bytes on the
control path while streaming.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "firmware"))

from figures import figure  # noqa: E402
from muwatch.protocol import (  # noqa: E402
    Status,
    build_configure,
    build_get_status,
    build_ping,
    build_start,
    build_stop,
)
from muwatch.sim.ads1299 import write_signal_source  # noqa: E402
from muwatch.sim.device import HEAP_BUDGET_NO_PSRAM, SimDevice, SimDeviceConfig  # noqa: E402
from simclient import Client, check_stream  # noqa: E402

SECONDS = 60.0


def _source(folder: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(2024)
    codes = rng.integers(-(2**23), 2**23, size=(20_000, 8), dtype=np.int64)
    stem = folder / "bench_src"
    write_signal_source(stem, codes, 4000.0, {"gain": 24, "scenario": "random codes"})
    return stem, codes


def _stream(stem: Path, codes: np.ndarray, rate: int, fuzz: bool = False) -> dict[str, float]:
    with SimDevice(SimDeviceConfig(signal=stem)) as dev:
        c = Client(dev.serve_pty())
        try:
            c.pump(1.0)
            idle_cpu0, idle_t0 = dev.cpu_seconds(), time.monotonic()
            c.pump(5.0)
            idle_share = (dev.cpu_seconds() - idle_cpu0) / (time.monotonic() - idle_t0)
            assert c.request(build_configure(rate_hz=rate)).status == Status.OK
            assert c.request(build_start()).status == Status.OK
            cpu0, t0 = dev.cpu_seconds(), time.monotonic()
            pings = answered = 0
            rnd = random.Random(9)
            while time.monotonic() - t0 < SECONDS:
                if fuzz:
                    junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))
                    c.ser.write(junk.replace(b"\x03", b"\x04"))  # 03 03 / 0D 03: REPL escape
                    if rnd.random() < 0.2:
                        rid = c.send(build_ping())
                        pings += 1
                        c.wait_for(lambda rid=rid: any(r.request_id == rid for r in c.responses))
                        answered += 1
                c.pump(0.05)
            share = (dev.cpu_seconds() - cpu0) / (time.monotonic() - t0)
            streaming_stats = dev.stats()
            status = c.request(build_get_status())
            stop = c.request(build_stop())
            next_index = int(np.frombuffer(stop.body, "<u4")[0])
            c.pump(1.5)
            stats = dev.stats()
        finally:
            c.close()
    chk = check_stream(c, codes, next_index)
    return {
        "lost": chk.lost,
        "mismatched": chk.mismatched,
        "crc": chk.crc_errors,
        "expected": next_index,
        "share": share,
        "idle_share": idle_share,
        "heap_high_water": float(stats.get("heap_high_water", -1)),
        "heap_total": float(stats.get("heap_total", -1)),
        "ring": float(stats.get("ring_bytes", 0)),
        "sim_overhead": float(stats.get("sim_overhead", 0)),
        "alloc_last_s": float(streaming_stats.get("alloc_last_s", -1)),
        "pings": pings,
        "answered": answered,
        "bad_requests": int(np.frombuffer(status.body[26:28], "<u2")[0]),
    }


def run() -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="muwatch-bench-fw-") as tmp:
        stem, codes = _source(Path(tmp))
        r2 = _stream(stem, codes, 2000)
        r4 = _stream(stem, codes, 4000)
        rf = _stream(stem, codes, 2000, fuzz=True)
    for tag, r in (("2khz", r2), ("4khz", r4)):
        n = f"{r['expected']} samples in {SECONDS:.0f} s"
        out[f"serial_lost_samples_8ch_{tag}"] = figure(
            int(r["lost"]), "samples", f"of {n}; must be 0"
        )
        out[f"serial_mismatched_samples_8ch_{tag}"] = figure(
            int(r["mismatched"]), "samples", f"against the signal-source codes, of {n}; must be 0"
        )
        out[f"serial_crc_errors_8ch_{tag}"] = figure(int(r["crc"]), "frames", "must be 0")
        out[f"mp_cpu_share_8ch_{tag}"] = figure(
            float(r["share"]),
            "fraction of one core",
            "one CPU core of this machine (shared, noisy)",
        )
        out[f"mp_cpu_share_8ch_{tag}_vs_idle"] = figure(
            float(r["share"]) / max(float(r["idle_share"]), 1e-4),
            "x",
            f"the same firmware idle, not streaming, same run ({float(r['idle_share']):.4f} of a core)",
        )
    out["steady_alloc_bytes_per_s_8ch_4khz"] = figure(
        int(r4["alloc_last_s"]),
        "bytes/s",
        "heap allocated by the whole MicroPython process in the last second of streaming "
        "(no allocation: no garbage collection can pause DRDY service); must be 0",
    )
    heap = max(r2["heap_high_water"], r4["heap_high_water"], rf["heap_high_water"])
    out["heap_high_water_bytes"] = figure(
        int(heap),
        "bytes",
        f"peak live heap (gc.mem_alloc() after a collection the simulated board runs each second) of a "
        f"{int(r2['heap_total'])}-byte heap, no MemoryError in the runs; heap "
        f"= ring {int(r2['ring'])} + budget {HEAP_BUDGET_NO_PSRAM} + simulation allowance",
    )
    non_buffer = heap - r2["ring"] - r2["sim_overhead"]
    out["heap_non_buffer_vs_budget"] = figure(
        non_buffer / HEAP_BUDGET_NO_PSRAM,
        "x",
        f"ESP32-S3 without PSRAM: {HEAP_BUDGET_NO_PSRAM} bytes (firmware share: high water minus "
        f"ring and the simulation's own {int(r2['sim_overhead'])} bytes)",
    )
    out["fuzz_lost_samples_8ch_2khz"] = figure(
        int(rf["lost"]) + int(rf["mismatched"]),
        "samples",
        f"60 s of random control bytes while streaming ({int(rf['bad_requests'])} bad requests counted); must be 0",
    )
    out["fuzz_unanswered_pings"] = figure(
        int(rf["pings"]) - int(rf["answered"]),
        "requests",
        f"of {int(rf['pings'])} PINGs sent among the noise; must be 0",
    )
    return out


if __name__ == "__main__":
    from figures import write_area

    write_area("firmware", run())
