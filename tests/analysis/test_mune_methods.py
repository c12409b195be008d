"""CMAP-scan, statistical and incremental MUNE on inputs built from their own models."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch.analysis.cmapscan import cmap_scan_mune, scan_noise_sd
from muwatch.analysis.incremental import incremental_mune, response_levels
from muwatch.analysis.poisson import poisson_mune, scan_blocks
from muwatch.errors import UsageError
from scipy.special import ndtr

from .gen import bostock_scan


@pytest.mark.parametrize(("n_units", "seed"), [(20, 1), (40, 2), (80, 3)])
def test_cmap_scan_counts_units_of_a_bostock_scan(n_units: int, seed: int) -> None:
    s, y, a, _ = bostock_scan(n_units, seed)
    r = cmap_scan_mune(s, y)
    assert abs(r.mune - n_units) <= 0.3 * n_units
    assert r.mune == len(r.units) and r.kind == "MUNE"
    assert r.cmap_max_uv == pytest.approx(a.sum(), rel=0.03)
    # the refined model explains the scan: its mean follows the responses within their spread
    resid = np.array(r.responses_uv) - np.array(r.model_mean_uv)
    assert np.mean(np.abs(resid) <= 3 * np.array(r.model_sd_uv)) > 0.9
    assert all(0.005 < u.rel_spread < 0.1 for u in r.units)


def test_cmap_scan_of_a_few_large_units() -> None:
    # few, large units (as after reinnervation): counted within two, sizes add up to the CMAP
    rng = np.random.default_rng(1)
    a = rng.uniform(300, 900, 4)
    th = np.sort(rng.normal(26.5, 0.8, 4))
    s = np.linspace(30.0, 23.0, 300)
    p = ndtr((s[:, None] - th[None, :]) / (0.0165 * th)[None, :])
    y = (rng.uniform(size=p.shape) < p) @ a + rng.normal(0, 5.0, s.size)
    r = cmap_scan_mune(s, y)
    assert 4 <= r.mune <= 6
    assert sum(u.amplitude_uv for u in r.units) == pytest.approx(a.sum(), rel=0.03)
    assert r.noise_uv == pytest.approx(5.0, rel=0.35)


def test_scan_noise_estimate_ignores_toggling_units() -> None:
    s, y, _, _ = bostock_scan(40, seed=3)
    assert scan_noise_sd(s, y) == pytest.approx(5.0, rel=0.3)


def test_cmap_scan_refuses_bad_input() -> None:
    s = np.linspace(20, 30, 100)
    with pytest.raises(UsageError, match="no clear response"):
        cmap_scan_mune(s, np.random.default_rng(0).normal(0, 5, 100))
    with pytest.raises(UsageError, match="responses"):
        cmap_scan_mune(s, np.ones(99))
    with pytest.raises(UsageError, match="at least 60"):
        cmap_scan_mune(s[:10], np.ones(10))


def test_poisson_mune_on_poisson_firing_of_equal_units() -> None:
    rng = np.random.default_rng(5)
    a, n_units = 80.0, 150
    cmap = a * n_units
    blocks = [a * rng.poisson(lam, 60) + rng.normal(0, 5.0, 60) for lam in (25, 40, 55)]
    r = poisson_mune(blocks, cmap, 5.0)
    assert r.mune == pytest.approx(n_units, rel=0.2)
    assert all(b.used for b in r.blocks)
    # a block at 95 % of the CMAP is refused with its reason
    r2 = poisson_mune([np.full(40, 0.95 * cmap) + rng.normal(0, 5, 40)], cmap, 5.0)
    assert r2.mune is None and "5-60 %" in r2.blocks[0].why_not
    lo, hi = r.mune_range
    assert lo < r.mune < hi


def test_poisson_mune_needs_two_fixed_intensities() -> None:
    rng = np.random.default_rng(6)
    cmap = 80.0 * 150
    one = [80.0 * rng.poisson(40, 60) + rng.normal(0, 5.0, 60)]
    r = poisson_mune(one, cmap, 5.0)
    assert r.mune is None and "needs >= 2 fixed intensities" in r.notes[-1]
    short = one + [80.0 * rng.poisson(30, 20) + rng.normal(0, 5.0, 20)]
    r = poisson_mune(short, cmap, 5.0)
    assert r.mune is None and "20 responses (< 30)" in r.blocks[1].why_not


def _binomial_blocks(n_units: int, seed: int, rs: float, n_stim: int = 60):
    """Units of equal size with thresholds N(26.5, 2) mA and threshold noise RS (Bostock's
    model), a 450-stimulus scan and two fixed blocks where the scan's mean is 20 and 40 %."""
    rng = np.random.default_rng(seed)
    a = np.full(n_units, 60.0)
    th = rng.normal(26.5, 2.0, n_units)

    def fire(s: np.ndarray) -> np.ndarray:
        p = ndtr((s[:, None] - th[None, :]) / (rs * th)[None, :])
        return (rng.uniform(size=p.shape) < p) @ a + rng.normal(0.0, 5.0, s.size)

    scan_s = np.linspace(33.0, 20.0, 450)
    scan_y = fire(scan_s)
    grid = np.linspace(18.0, 35.0, 4000)
    mean = ndtr((grid[:, None] - th[None, :]) / (rs * th)[None, :]) @ a
    at = [float(grid[np.argmax(mean >= f * a.sum())]) for f in (0.2, 0.4)]
    blocks = [fire(np.full(n_stim, s)) for s in at]
    return blocks, at, (scan_s, scan_y), float(a.sum())


@pytest.mark.parametrize("rs", [0.015, 0.02, 0.03])
def test_statistical_mune_with_always_firing_units(rs: float) -> None:
    # units below the block's intensity always fire: Daube's variance/mean reads several times
    # N, the slope-corrected S-MUP (RS assumed = true here) stays near N
    n_units = 60
    got, classic = [], []
    for seed in range(6):
        blocks, at, curve, cmap = _binomial_blocks(n_units, seed, rs)
        r = poisson_mune(blocks, cmap, 5.0, intensities_ma=at, curve=curve, rel_spread=rs)
        assert r.mune is not None and r.mune_classic is not None
        assert all(b.slope_uv_per_ma and b.slope_uv_per_ma > 0 for b in r.blocks)
        got.append(r.mune)
        classic.append(r.mune_classic)
    assert np.median(classic) > 2.0 * n_units
    assert np.median(got) == pytest.approx(n_units, rel=0.25)
    # an assumed RS twice the true one halves the S-MUP: the count scales with it (stated)
    blocks, at, curve, cmap = _binomial_blocks(n_units, 0, rs)
    r1 = poisson_mune(blocks, cmap, 5.0, intensities_ma=at, curve=curve, rel_spread=rs)
    r2 = poisson_mune(blocks, cmap, 5.0, intensities_ma=at, curve=curve, rel_spread=2 * rs)
    assert r2.mune == pytest.approx(2 * r1.mune, rel=1e-9)
    assert r1.rel_spread_assumed == rs and f"RS = {rs:.1%}" in r1.notes[0]


def test_statistical_mune_refuses_a_flat_curve_and_bad_intensities() -> None:
    blocks, at, (s, y), cmap = _binomial_blocks(40, 1, 0.02)
    flat = (s, np.full(s.size, 0.3 * cmap))
    r = poisson_mune(blocks, cmap, 5.0, intensities_ma=at, curve=flat)
    assert r.mune is None and all("flat" in b.why_not for b in r.blocks)
    with pytest.raises(UsageError, match="2 blocks need 2 intensities"):
        poisson_mune(blocks, cmap, 5.0, intensities_ma=at[:1], curve=(s, y))
    with pytest.raises(UsageError, match="positive mA"):
        poisson_mune(blocks, cmap, 5.0, intensities_ma=[-1.0, 2.0], curve=(s, y))
    # without intensities: the classic estimate, flagged as an upper bound
    r = poisson_mune(blocks, cmap, 5.0)
    assert r.mune == r.mune_classic and "upper bound" in r.notes[0]


def test_scan_blocks_pick_the_variable_part() -> None:
    s, y, a, _ = bostock_scan(40, seed=1)
    blocks = scan_blocks(s, y, a.sum())
    assert blocks and all(0.1 * a.sum() <= b.mean() <= 0.5 * a.sum() for b in blocks)


def _graded(sizes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Graded stimuli recruiting one unit per step, 20 stimuli per level."""
    levels = np.cumsum(np.r_[0.0, sizes])
    rng = np.random.default_rng(seed)
    k = np.repeat(np.arange(levels.size), 20)
    return 10.0 + 0.1 * k + rng.uniform(0, 0.05, k.size), levels[k] + rng.normal(0, 4.0, k.size)


def test_incremental_mune_counts_all_or_none_increments() -> None:
    sizes = np.random.default_rng(3).uniform(80.0, 160.0, 12)
    stim, resp = _graded(sizes, 7)
    r = incremental_mune(stim, resp, cmap_uv=4700.0, noise_uv=4.0, max_fraction=1.0)
    assert r.n_increments == 10  # McComas: the first 10 increments
    assert r.smup_uv == pytest.approx(sizes[:10].mean(), rel=0.03)
    assert r.mune == pytest.approx(4700.0 / sizes[:10].mean(), rel=0.03)
    lo, hi = r.mune_range
    assert lo < r.mune < hi  # its uncertainty, from the spread of the increments
    half = 1.96 * sizes[:10].std(ddof=1) / np.sqrt(10)
    assert lo == pytest.approx(4700.0 / (sizes[:10].mean() + half), rel=0.05)
    assert response_levels(np.array([0.0, 0.1, 50.0]), 1.0) == [pytest.approx(0.05)]


def test_incremental_mune_refuses_too_few_increments() -> None:
    stim, resp = _graded(np.array([120.0, 90.0, 150.0]), 7)
    r = incremental_mune(stim, resp, cmap_uv=4700.0, noise_uv=4.0, max_fraction=1.0)
    assert r.mune is None and r.n_increments == 3
    assert "only 3 all-or-none increments" in r.notes[-1] and ">= 10" in r.notes[-1]
