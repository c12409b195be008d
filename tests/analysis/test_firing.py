"""Firing statistics through the C core against direct numpy computation."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch.analysis.firing import firing_stats
from muwatch.errors import UsageError


def test_rate_and_cv_match_numpy() -> None:
    rng = np.random.default_rng(4)
    fs = 10_000.0
    isi = rng.normal(0.08, 0.012, 300)
    t = np.round(np.cumsum(isi) * fs).astype(np.int64)
    r = firing_stats(t, fs)
    d = np.diff(t) / fs
    assert r.n_isi == d.size and r.n_short == r.n_long == 0
    assert r.rate_hz == pytest.approx(1 / d.mean(), rel=1e-5)
    assert r.isi_cv == pytest.approx(d.std(ddof=1) / d.mean(), rel=1e-3)
    assert r.mean_isi_ms == pytest.approx(1000 * d.mean(), rel=1e-6)


def test_out_of_range_isis_are_counted_not_used() -> None:
    t = np.array([0, 200, 400, 410, 610, 5000, 5200, 5400])
    r = firing_stats(t, 2000.0, min_isi_ms=20, max_isi_ms=250, around_median=None)
    assert (r.n_short, r.n_long) == (1, 1)
    assert r.n_isi == 5 and r.rate_hz == pytest.approx(10.0, rel=1e-4)
    # by default the false discharge (400 or 410) is edited out, the pause still excluded
    r = firing_stats(t, 2000.0, min_isi_ms=20, max_isi_ms=250)
    assert (r.n_removed, r.n_short, r.n_long) == (1, 0, 1)
    assert r.n_isi == 5 and r.rate_hz == pytest.approx(10.0, rel=0.02)


def test_too_few_discharges_give_none() -> None:
    r = firing_stats([100, 300], 1000.0)
    assert r.rate_hz is None and r.isi_cv is None and r.n_isi == 1


def test_refusals() -> None:
    with pytest.raises(UsageError, match="increasing"):
        firing_stats([10, 5], 1000.0)
    with pytest.raises(UsageError, match="whole sample"):
        firing_stats([1.5, 3.0], 1000.0)
    with pytest.raises(UsageError, match="ISI bounds"):
        firing_stats([1, 2], 1000.0, min_isi_ms=50, max_isi_ms=10)


def _sorted_like_train(cv: float, seed: int, miss: float = 0.05, extra: float = 0.03):
    """A Gaussian-ISI train (rate 10 Hz) as a sorter returns it: some discharges missed, some
    false ones added at random times."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(0.1 * np.maximum(1.0 + cv * rng.standard_normal(600), 0.25))
    t = t[rng.uniform(size=t.size) >= miss]
    t = np.r_[t, rng.uniform(0, t[-1], int(extra * t.size))]
    return np.unique(np.round(np.sort(t) * 10_000).astype(np.int64))


@pytest.mark.parametrize("cv", [0.1, 0.15, 0.2])
def test_isi_cv_survives_missed_and_extra_discharges(cv: float) -> None:
    for seed in range(3):
        t = _sorted_like_train(cv, seed)
        raw = firing_stats(t, 10_000.0, around_median=None)
        r = firing_stats(t, 10_000.0)
        assert raw.isi_cv is not None and raw.isi_cv > cv * 1.3  # what the first version read
        assert r.isi_cv == pytest.approx(cv, rel=0.2)
        assert r.rate_hz == pytest.approx(10.0, rel=0.05)
        assert r.n_short + r.n_long + r.n_removed > 0.05 * t.size  # exclusions are counted


def test_around_median_is_checked() -> None:
    with pytest.raises(UsageError, match="around_median"):
        firing_stats([0, 100, 200, 300], 1000.0, around_median=1.5)


def test_a_train_mixing_two_units_is_flagged() -> None:
    one = _sorted_like_train(0.15, 1)
    assert firing_stats(one, 10_000.0).consistent
    # two units at similar rates merged by the sorting: about half the intervals are edited
    two = np.unique(np.r_[one, _sorted_like_train(0.15, 2) + 337])
    r = firing_stats(two, 10_000.0)
    assert not r.consistent and r.excluded_fraction > 0.3
