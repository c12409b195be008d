"""The device→host clock map recovers offset and drift from jittery arrival times."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch.session import ClockMap


def _arrivals(drift_ppm: float, seconds: float, seed: int, frame_s: float = 0.0045):
    """Device stamps every frame; the host sees them after 3 ms + exponential queueing delay."""
    rng = np.random.default_rng(seed)
    dev_us = np.arange(0, seconds, frame_s) * 1e6 + 123_456_789
    true_host = 1000.0 + (dev_us - dev_us[0]) / 1e6 / (1 + drift_ppm * 1e-6)
    latency = 0.003 + rng.exponential(0.004, size=dev_us.size)
    latency[rng.random(dev_us.size) < 0.02] += 0.2  # bursts after radio retries
    return dev_us.astype(np.int64), true_host, true_host + latency


@pytest.mark.parametrize("drift_ppm", [-80.0, 0.0, 35.0])
def test_fit_recovers_drift_and_maps_within_a_millisecond(drift_ppm):
    dev_us, true_host, arrival = _arrivals(drift_ppm, 120.0, seed=int(drift_ppm) + 100)
    cmap = ClockMap()
    for d, a in zip(dev_us.tolist(), arrival.tolist(), strict=True):
        cmap.add(d, a)
    fit = cmap.fit
    assert fit is not None
    assert fit.drift_ppm == pytest.approx(drift_ppm, abs=2.0)
    mapped = np.array([fit.to_host(d) for d in dev_us[::500]])
    err = mapped - true_host[::500]
    # The envelope sits on the minimum latency (3 ms) rather than the mean (~7 ms + bursts).
    assert np.all(np.abs(err - 0.003) < 0.001)
    assert fit.residual_us < 1000
    # Arrival jitter is what the link adds; it is far larger than the map's own error.
    assert fit.jitter_us > 4 * fit.residual_us
    assert abs(fit.to_device(fit.to_host(dev_us[1000])) - dev_us[1000]) < 1.0


def test_short_stretch_gives_offset_only():
    cmap = ClockMap(min_span_s=2.0)
    assert cmap.fit is None
    cmap.add(5_000_000, 10.0)
    cmap.add(5_004_500, 10.0046)
    fit = cmap.fit
    assert fit is not None and fit.slope == 1.0
    assert fit.to_host(5_000_000) == pytest.approx(10.0, abs=1e-3)


def test_absurd_pairs_do_not_give_an_absurd_slope():
    cmap = ClockMap()
    for k in range(40):
        cmap.add(k * 500_000, 50.0 + k * 0.25)  # half speed: not a clock, e.g. after a reboot
    fit = cmap.fit
    assert fit is not None and fit.slope == 1.0
