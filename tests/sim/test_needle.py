"""Needle EMG: NMJ jitter and blocking, recovered from the simulated fibres and waveforms."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch import sim
from muwatch.sim.muap import render_events
from muwatch.sim.needle import fibre_sd_s, sfap_amplitude, sfap_width


def _mcd_us(units: list[dict]) -> tuple[float, list[float]]:
    """Mean MCD (µs) of inter-potential intervals over adjacent fibre pairs (Ekstedt 1974)."""
    all_d, per_unit = [], []
    for u in units:
        lat = np.asarray(u.get("latency_s", []), dtype=float)
        if lat.ndim != 2 or lat.shape[1] < 2 or lat.shape[0] < 50:
            continue
        d_unit = []
        for f in range(lat.shape[1] - 1):
            ipi = lat[:, f + 1] - lat[:, f]
            d = np.abs(np.diff(ipi))
            d_unit.append(d[np.isfinite(d)])
        d_unit = np.concatenate(d_unit)
        all_d.append(d_unit)
        per_unit.append(float(d_unit.mean() * 1e6))
    return float(np.concatenate(all_d).mean() * 1e6), per_unit


@pytest.mark.parametrize(
    ("name", "jitter"),
    [("needle-steady", 30.0), ("nmj-instability", 80.0), ("needle-steady", 45.0)],
)
def test_jitter_recovered_from_fibre_latencies(name: str, jitter: float) -> None:
    rec = sim.simulate(name, seconds=12.0, seed=7, jitter_us=jitter, force_pct=25.0)
    units = rec.truth["needle"]["channels"][0]["units"]
    mean, per_unit = _mcd_us(units)
    assert len(per_unit) >= 3
    assert mean == pytest.approx(jitter, rel=0.05)
    assert np.median(per_unit) == pytest.approx(jitter, rel=0.15)


def test_blocking_rate_recovered() -> None:
    rec = sim.simulate("nmj-instability", seconds=10.0, seed=3)
    blocked, total = 0, 0
    for u in rec.truth["needle"]["channels"][0]["units"]:
        lat = np.asarray(u.get("latency_s", []), dtype=float)
        if lat.ndim == 2:
            blocked += int(np.isnan(lat).sum())
            total += lat.size
    assert total > 1000
    assert blocked / total == pytest.approx(0.1, abs=0.015)


def test_jitter_recovered_from_the_rendered_waveform() -> None:
    """Two single-fibre potentials per discharge, 1 ms apart, rendered at 20 kHz: the
    sub-sample peak times give back the set jitter (the renderer keeps µs timing)."""
    fs, jitter = 20000.0, 35.0
    rng = np.random.default_rng(1)
    n_dis = 2000
    t_dis = 0.02 + np.arange(n_dis) * 0.02 + rng.uniform(0, 1e-3, n_dis)
    sd = float(fibre_sd_s(jitter))
    lat = np.stack([1e-3 + rng.normal(0, sd, n_dis), 2e-3 + rng.normal(0, sd, n_dis)], axis=1)
    r = np.array([0.05, 0.08])
    out = np.zeros((1, int((t_dis[-1] + 0.02) * fs)))
    times = (t_dis[:, None] + lat).ravel()
    render_events(
        out,
        fs,
        times,
        np.tile(sfap_amplitude(r), n_dis)[:, None],
        np.tile(sfap_width(r), n_dis)[:, None],
        kind="sfap",
    )
    x = -out[0]
    peaks = np.empty((n_dis, 2))
    for k in range(n_dis):
        for f in range(2):
            c = int((t_dis[k] + [1e-3, 2e-3][f]) * fs)
            j = c - 6 + int(np.argmax(x[c - 6 : c + 7]))
            y0, y1, y2 = x[j - 1 : j + 2]
            peaks[k, f] = (j + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)) / fs
    mcd = np.abs(np.diff(peaks[:, 1] - peaks[:, 0])).mean() * 1e6
    realised = np.abs(np.diff(lat[:, 1] - lat[:, 0])).mean() * 1e6
    assert mcd == pytest.approx(realised, rel=0.02), "waveform timing follows the latencies"
    assert mcd == pytest.approx(jitter, rel=0.05)


def test_reinnervated_units_are_larger_and_more_complex() -> None:
    young = sim.simulate("needle-steady", seconds=4.0, seed=5, force_pct=20.0)
    aged = sim.simulate("needle-aged", seconds=4.0, seed=5, force_pct=20.0)

    def stats(rec: sim.Recording) -> tuple[float, float]:
        units = rec.truth["needle"]["channels"][0]["units"]
        fib = [u["n_fibres"] for u in units]
        turns = []
        for u in units:
            w = u.get("mean_muap_uv")
            if w is not None and np.ptp(w) > 100:
                d = np.diff(np.asarray(w))
                big = np.abs(d) > 0.02 * np.abs(d).max()
                turns.append(np.count_nonzero(np.diff(np.sign(d[big])) != 0))
        return float(np.mean(fib)), float(np.mean(turns))

    fy, ty = stats(young)
    fa, ta = stats(aged)
    assert fa > fy, "reinnervated units have more fibres near the needle"
    assert ta > ty, "reinnervated units have more turns (polyphasic)"


def test_myopathy_muaps_are_small() -> None:
    normal = sim.simulate("needle-steady", seconds=3.0, seed=6)
    myo = sim.simulate("myopathy", seconds=3.0, seed=6)

    def peak(rec: sim.Recording) -> float:
        amps = [abs(u["peak_amplitude_v"][0]) for u in rec.truth["units"] if len(u["firings_s"])]
        return float(np.median(np.sort(amps)[-10:]))

    assert peak(myo) < 0.7 * peak(normal)
