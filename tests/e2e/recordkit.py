"""Helpers of the recording end-to-end tests: signal sources and the simulated sensor."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest


def need_sim_device():  # type: ignore[no-untyped-def]
    """The firmware area's launcher of the simulated sensor, or a skip saying it is missing."""
    try:
        from muwatch.sim.device import SimDevice, SimDeviceConfig
    except ImportError as exc:
        pytest.skip(f"the simulated sensor (muwatch.sim.device) is not available: {exc}")
    return SimDevice, SimDeviceConfig


def write_source(
    folder: Path, seconds: float, fs: int, n_channels: int = 8, seed: int = 7
) -> tuple[Path, np.ndarray]:
    """A signal source of random 24-bit codes (every sample distinct: misplacement shows)."""
    from muwatch.sim.ads1299 import write_signal_source

    rng = np.random.default_rng(seed)
    codes = rng.integers(-(1 << 23), 1 << 23, size=(int(seconds * fs), n_channels), dtype=np.int32)
    stem = folder / f"source{seed}"
    write_signal_source(stem, codes, float(fs), {"gain": 24})
    full = np.zeros((codes.shape[0], 8), np.int32)
    full[:, :n_channels] = codes
    return stem, full


@contextlib.contextmanager
def sim_sensor(signal: Path, **kw) -> Iterator[tuple[object, str]]:  # type: ignore[no-untyped-def]
    SimDevice, SimDeviceConfig = need_sim_device()
    sim = SimDevice(SimDeviceConfig(signal=signal, **kw))
    try:
        url = sim.serve_socket()
        yield sim, url
    finally:
        sim.close()


def expected(source: np.ndarray, n: int, channels: list[int]) -> np.ndarray:
    """The codes the sensor plays for stream indices 0..n-1 (the source loops)."""
    idx = np.arange(n) % source.shape[0]
    return source[idx][:, [c - 1 for c in channels]]
