"""The evaluation harness: optimal one-to-one matching and the scores built on it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from muwatch.errors import UsageError
from muwatch.eval import compare_counts, match_events, score_detection, scores


def _brute(t: list[float], d: list[float], tol: float) -> tuple[int, float]:
    """Best (most pairs, then least total |dt|) by trying every assignment."""
    best = (0, 0.0)
    for perm in itertools.permutations(range(len(d)), min(len(t), len(d))):
        pairs = [
            (i, j) for i, j in zip(range(len(t)), perm, strict=False) if abs(t[i] - d[j]) <= tol
        ]
        cand = (len(pairs), -sum(abs(t[i] - d[j]) for i, j in pairs))
        if cand > (best[0], -best[1]):
            best = (cand[0], -cand[1])
    # also consider leaving trues out of order (permutations over trues too)
    for perm in itertools.permutations(range(len(t)), min(len(t), len(d))):
        pairs = [
            (i, j) for j, i in zip(range(len(d)), perm, strict=False) if abs(t[i] - d[j]) <= tol
        ]
        cand = (len(pairs), -sum(abs(t[i] - d[j]) for i, j in pairs))
        if cand > (best[0], -best[1]):
            best = (cand[0], -cand[1])
    return best


times = st.lists(st.integers(0, 40).map(lambda v: v * 0.25e-3), min_size=0, max_size=5)


@settings(max_examples=200, deadline=None)
@given(times, times)
def test_matching_is_optimal(t: list[float], d: list[float]) -> None:
    tol = 0.4e-3
    ti, di = match_events(np.array(t), np.array(d), tol)
    assert len(set(ti.tolist())) == ti.size and len(set(di.tolist())) == di.size, "one-to-one"
    assert np.all(np.abs(np.array(t)[ti] - np.array(d)[di]) <= tol + 1e-15) if ti.size else True
    n, cost = _brute(t, d, tol)
    assert ti.size == n
    if n:
        assert np.abs(np.array(t)[ti] - np.array(d)[di]).sum() == pytest.approx(cost, abs=1e-12)


def test_greedy_trap_is_solved() -> None:
    # greedy nearest-first would pair 1.0 with 1.3 and leave both others unpaired
    t = np.array([1.0, 1.6]) * 1e-3
    d = np.array([0.7, 1.3]) * 1e-3
    ti, di = match_events(t, d, 0.4e-3)
    assert ti.tolist() == [0, 1] and di.tolist() == [0, 1]


def _greedy_max_cardinality(t: np.ndarray, d: np.ndarray, tol: float) -> int:
    """Trues in order, each to the earliest free detection in its window: maximal for intervals."""
    used = np.zeros(d.size, bool)
    n = 0
    for x in t:
        j = int(np.searchsorted(d, x - tol))
        while j < d.size and d[j] <= x + tol:
            if not used[j]:
                used[j] = True
                n += 1
                break
            j += 1
    return n


def test_long_chains_use_the_sparse_solver_and_stay_optimal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import muwatch.eval.match as m

    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 0.6, 1200))  # ~2 events/ms: one long chain at 1 ms tolerance
    d = np.sort(np.concatenate((t[::2] + rng.normal(0, 0.3e-3, 600), rng.uniform(0, 0.6, 100))))
    ti, di = match_events(t, d, 1e-3)  # sparse path (chain larger than the dense limit)
    assert ti.size == _greedy_max_cardinality(t, d, 1e-3)
    assert np.all(np.abs(t[ti] - d[di]) <= 1e-3)
    monkeypatch.setattr(m, "_DENSE_LIMIT", 10_000)
    tj, dj = match_events(t, d, 1e-3)  # dense Hungarian on the same chain
    assert tj.size == ti.size
    assert np.abs(t[ti] - d[di]).sum() == pytest.approx(np.abs(t[tj] - d[dj]).sum(), rel=1e-9)


def test_scores_and_per_unit_recall() -> None:
    trains = {1: np.array([0.010, 0.050, 0.090]), 2: np.array([0.030, 0.070])}
    det = np.array(
        [0.0101, 0.0502, 0.0300, 0.2, 0.0705]
    )  # unit 1: 2 of 3, unit 2: 1 of 2 at 0.4 ms
    s = score_detection(trains, det, 0.4e-3)
    assert (s.tp, s.fn, s.fp) == (3, 2, 2)
    assert s.recall == pytest.approx(3 / 5) and s.precision == pytest.approx(3 / 5)
    assert s.accuracy == pytest.approx(3 / 7) and s.f1 == pytest.approx(6 / 10)
    assert [u.recall for u in s.units] == pytest.approx([2 / 3, 1 / 2])
    s1 = score_detection(trains, det, 1e-3)
    assert (s1.tp, s1.fp) == (4, 1)


def test_excluded_units_are_neutral() -> None:
    s = score_detection(
        {1: np.array([0.01])}, np.array([0.01, 0.5]), 0.4e-3, excluded_trains={9: np.array([0.5])}
    )
    assert (s.tp, s.fp, s.neutral) == (1, 0, 1)


def test_sorting_scores_pair_clusters_with_units() -> None:
    t1 = np.arange(0.0, 1.0, 0.05)
    t2 = np.arange(0.021, 1.0, 0.07)
    det = np.concatenate((t1, t2[:-3], [0.333, 0.444]))
    labels = ["a"] * t1.size + ["b"] * (t2.size - 3) + ["b", "c"]
    s = score_detection({1: t1, 2: t2}, det, 1e-3, detected_units=labels)
    u1, u2 = s.units
    assert u1.detected_unit == "a" and u1.precision == 1.0 and u1.sort_recall == 1.0
    assert u2.detected_unit == "b"
    assert u2.sort_recall == pytest.approx((t2.size - 3) / t2.size)
    assert u2.precision == pytest.approx((t2.size - 3) / (t2.size - 2))
    assert s.unmatched_clusters == ["c"]


def test_undefined_scores_are_nan_not_zero() -> None:
    r, p, f, a = scores(0, 0, 0)
    assert np.isnan(r) and np.isnan(p)
    with pytest.raises(UsageError):
        match_events(np.array([np.nan]), np.array([0.0]), 1e-3)


def test_count_comparison() -> None:
    c = compare_counts([90, 110, 100, 120], 100)
    assert c.bias == pytest.approx(5.0) and c.rel_bias == pytest.approx(0.05)
    assert c.cv == pytest.approx(np.std([90, 110, 100, 120], ddof=1) / 105)
    assert c.within_20pct == 1.0
    c2 = compare_counts([80, 40], [160, 40])
    assert c2.mean_abs_rel_error == pytest.approx(0.25)
    with pytest.raises(UsageError):
        compare_counts([], 10)
