"""Jitter and jiggle on single-fibre spikes with known interval jitter, band-limited as any
recording chain makes them (anti-alias filter before the ADC)."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch.analysis.jitter import auto_windows, jiggle, jitter
from muwatch.errors import UsageError

FS = 10_000.0


def sfap(t: np.ndarray, t0: float, width_s: float, amp: float) -> np.ndarray:
    """Triphasic single-fibre potential, negative main peak (Hermite-Rodriguez order 2)."""
    x = (t - t0) / width_s
    return -amp * (1 - 2 * x**2) * np.exp(-(x**2))


def discharges(
    mcd_us: float, n: int = 200, noise_uv: float = 4.0, seed: int = 0, block: float = 0.0
):
    """Snippets of a two-fibre unit whose inter-potential interval has MCD = mcd_us."""
    rng = np.random.default_rng(seed)
    t = np.arange(120) / FS
    sd_fibre = mcd_us * 1e-6 / (np.sqrt(2) * 2 / np.sqrt(np.pi))
    out, true_ipi = [], []
    for _ in range(n):
        d1, d2 = rng.normal(0, sd_fibre, 2)
        x = sfap(t, 4e-3 + d1, 0.2e-3, 400.0)
        if rng.uniform() >= block:
            x = x + sfap(t, 6.5e-3 + d2, 0.25e-3, 250.0)
        out.append(x + rng.normal(0, noise_uv, t.size))
        true_ipi.append(d2 - d1)
    ipi = np.array(true_ipi)
    return np.array(out), float(np.mean(np.abs(np.diff(ipi))) * 1e6)


@pytest.mark.parametrize("mcd", [15.0, 35.0, 60.0])
def test_pair_jitter_recovers_the_realised_mcd(mcd: float) -> None:
    snips, realised = discharges(mcd, seed=int(mcd))
    r = jitter(snips, FS)
    assert r.mode == "pair" and r.n_blocked == 0 and r.n_diffs == 199
    assert r.mcd_us == pytest.approx(realised, rel=0.10)
    assert r.mean_ipi_us == pytest.approx(2500.0, abs=10.0)


def test_blocking_is_counted() -> None:
    snips, _ = discharges(30.0, block=0.2, seed=9)
    first, second = auto_windows(snips[:20], FS)
    r = jitter(snips, FS, windows=(first, second))
    assert 20.0 < r.blocking_percent < 40.0
    assert r.n_diffs < 199


def test_jitter_needs_10_khz() -> None:
    snips, _ = discharges(30.0)
    with pytest.raises(UsageError, match="10000 Hz"):
        jitter(snips, 4000.0)


def test_jiggle_rises_with_shape_variability() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(120) / FS
    cads, cccs = [], []
    for var in (0.0, 0.05, 0.15, 0.3):
        snips = []
        for _ in range(60):
            g = 1 + var * rng.normal(size=3)
            x = sum(
                sfap(t, t0, 0.25e-3, 300 * gi)
                for t0, gi in zip((4e-3, 5e-3, 6.2e-3), g, strict=True)
            )
            snips.append(x + rng.normal(0, 2.0, t.size))
        j = jiggle(np.array(snips), FS)
        cads.append(j.cad_percent)
        cccs.append(j.ccc)
    assert cads == sorted(cads) and cccs == sorted(cccs, reverse=True)
    assert cccs[0] > 0.99 and cads[-1] > 2 * cads[0]
