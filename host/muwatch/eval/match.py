"""One-to-one matching of detected spikes to true firings, and the scores built on it.

Matching (as in SpikeInterface's ground-truth comparison): a detection and a true event may be
paired when |Δt| ≤ tolerance; the pairing is one-to-one and optimal — first the most pairs,
then the smallest total |Δt|. Events are split into chains at gaps longer than the tolerance
(no pair can cross such a gap); a chain of one true event and one detection is paired directly,
other chains are solved exactly by the Hungarian method (`linear_sum_assignment`), or for very
long chains by a sparse minimum-weight full bipartite matching on a graph padded with private
"unmatched" nodes.

Scores: recall = TP/(TP+FN), precision = TP/(TP+FP), F1, accuracy = TP/(TP+FN+FP).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from muwatch.errors import UsageError

TOLERANCES_S = (0.4e-3, 1.0e-3)
_DENSE_LIMIT = 400


def match_events(
    true_t: np.ndarray, det_t: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the inputs) of the optimal one-to-one pairs within `tol` seconds."""
    if tol < 0 or not np.isfinite(tol):
        raise UsageError(f"tolerance must be a finite number >= 0, got {tol}")
    t = np.asarray(true_t, dtype=float).ravel()
    d = np.asarray(det_t, dtype=float).ravel()
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(d))):
        raise UsageError("event times must be finite numbers")
    if t.size == 0 or d.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    times = np.concatenate((t, d))
    is_det = np.concatenate((np.zeros(t.size, bool), np.ones(d.size, bool)))
    src = np.concatenate((np.arange(t.size), np.arange(d.size)))
    order = np.argsort(times, kind="stable")
    times, is_det, src = times[order], is_det[order], src[order]
    chain = np.concatenate(([0], np.cumsum(np.diff(times) > tol)))
    n_chain = int(chain[-1]) + 1
    n_det = np.bincount(chain, weights=is_det, minlength=n_chain)
    n_all = np.bincount(chain, minlength=n_chain)
    n_true = n_all - n_det
    out_t: list[np.ndarray] = []
    out_d: list[np.ndarray] = []
    # Chains of exactly one true and one detection: paired (their gap is <= tol by construction).
    simple = (n_true == 1) & (n_det == 1)
    sel = simple[chain]
    if sel.any():
        c_src, c_det = src[sel], is_det[sel]
        out_t.append(c_src[~c_det])
        out_d.append(c_src[c_det])
    hard = np.flatnonzero((n_true >= 1) & (n_det >= 1) & ~simple)
    if hard.size:
        starts = np.searchsorted(chain, hard)
        stops = np.searchsorted(chain, hard, side="right")
        for a, b in zip(starts, stops, strict=True):
            ti, di = _solve_chain(times[a:b], is_det[a:b], src[a:b], tol)
            out_t.append(ti)
            out_d.append(di)
    if not out_t:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ti = np.concatenate(out_t).astype(np.int64)
    di = np.concatenate(out_d).astype(np.int64)
    order = np.argsort(ti, kind="stable")
    return ti[order], di[order]


def _solve_chain(
    times: np.ndarray, is_det: np.ndarray, src: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    tt, dt = times[~is_det], times[is_det]
    ts, ds = src[~is_det], src[is_det]
    lo = np.searchsorted(dt, tt - tol, side="left")
    hi = np.searchsorted(dt, tt + tol, side="right")
    rows = np.repeat(np.arange(tt.size), hi - lo)
    cols = (
        np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
        if rows.size
        else np.empty(0, np.int64)
    )
    if rows.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    cost = np.abs(tt[rows] - dt[cols])
    big = tol * (min(tt.size, dt.size) + 1) + 1.0  # worse than any set of eligible pairs
    if tt.size * dt.size <= _DENSE_LIMIT * _DENSE_LIMIT:
        mat = np.full((tt.size, dt.size), big)
        mat[rows, cols] = cost
        r, c = linear_sum_assignment(mat)
        ok = mat[r, c] < big
        return ts[r[ok]], ds[c[ok]]
    # Sparse exact solution: trues 0..m-1 and dummy trues m..m+k-1 (one per detection) against
    # detections 0..k-1 and dummy detections k..k+m-1 (one per true). Costs are offset by
    # eps so that no stored weight is zero.
    m, k = tt.size, dt.size
    eps = tol * 1e-6 + 1e-12
    r_ = np.concatenate((rows, np.arange(m), m + cols, m + np.arange(k)))
    c_ = np.concatenate((cols, k + np.arange(m), k + rows, np.arange(k)))
    w_ = np.concatenate((cost + eps, np.full(m, big), np.full(rows.size, eps), np.full(k, big)))
    graph = coo_matrix((w_, (r_, c_)), shape=(m + k, k + m)).tocsr()
    r, c = min_weight_full_bipartite_matching(graph)
    pr = np.arange(m + k)
    real = (pr < m) & (c < k)
    return ts[pr[real]], ds[c[real]]


@dataclass
class UnitScore:
    """Scores of one true unit.

    `tp`/`recall`: its events found by any detection (unit-agnostic). The sorting fields
    (`detected_unit` … `accuracy`) are filled only when detections carry unit labels: then they
    score the detected cluster paired with this unit.
    """

    id: int
    n_true: int
    tp: int
    recall: float
    snr: float | None = None
    detected_unit: Any = None
    n_detected: int | None = None
    sort_tp: int | None = None
    sort_recall: float | None = None
    precision: float | None = None
    f1: float | None = None
    accuracy: float | None = None


@dataclass
class DetectionScore:
    """Overall and per-unit detection scores at one tolerance."""

    tolerance_s: float
    n_true: int
    n_detected: int
    tp: int
    fn: int
    fp: int
    neutral: int  # detections matching only units excluded from the truth set
    recall: float
    precision: float
    f1: float
    accuracy: float
    units: list[UnitScore] = field(default_factory=list)
    unmatched_clusters: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def scores(tp: int, fn: int, fp: int) -> tuple[float, float, float, float]:
    """(recall, precision, F1, accuracy); NaN where undefined (nothing to count)."""
    recall = _ratio(tp, tp + fn)
    precision = _ratio(tp, tp + fp)
    f1 = _ratio(2 * tp, 2 * tp + fn + fp)
    return recall, precision, f1, _ratio(tp, tp + fn + fp)


def score_detection(
    true_trains: Mapping[int, np.ndarray],
    detected_t: np.ndarray,
    tol: float,
    *,
    detected_units: Sequence[Any] | None = None,
    excluded_trains: Mapping[int, np.ndarray] | None = None,
    snr: Mapping[int, float] | None = None,
) -> DetectionScore:
    """Score detections against true events (per unit: times at the MUAP extremum).

    Overall: every true event of `true_trains` is a target; detections matching none of them
    but matching events of `excluded_trains` (units too small to count, by choice) are
    `neutral`, the rest are false positives. With `detected_units` (a label per detection, not
    all None), detected clusters are also paired with true units by maximal agreement
    (Hungarian) and each true unit gets precision, F1 and accuracy.
    """
    det = np.asarray(detected_t, dtype=float).ravel()
    ids = list(true_trains)
    trains = [np.asarray(true_trains[i], dtype=float).ravel() for i in ids]
    owner = np.repeat(np.arange(len(ids)), [t.size for t in trains])
    all_t = np.concatenate(trains) if trains else np.empty(0)
    ti, di = match_events(all_t, det, tol)
    tp = int(ti.size)
    unmatched = np.setdiff1d(np.arange(det.size), di)
    neutral = 0
    if excluded_trains and unmatched.size:
        ex = [np.asarray(v, dtype=float).ravel() for v in excluded_trains.values()]
        ex_t = np.concatenate(ex) if ex else np.empty(0)
        _, dj = match_events(ex_t, det[unmatched], tol)
        neutral = int(dj.size)
    fn = int(all_t.size - tp)
    fp = int(unmatched.size - neutral)
    r, p, f, a = scores(tp, fn, fp)
    per_unit_tp = np.bincount(owner[ti], minlength=len(ids)) if ids else np.zeros(0, int)
    units = [
        UnitScore(
            id=int(uid),
            n_true=int(trains[k].size),
            tp=int(per_unit_tp[k]),
            recall=_ratio(per_unit_tp[k], trains[k].size),
            snr=None if snr is None else float(snr.get(uid, np.nan)),
        )
        for k, uid in enumerate(ids)
    ]
    clusters_left: list[Any] = []
    if detected_units is not None and any(u is not None for u in detected_units):
        if len(detected_units) != det.size:
            raise UsageError("detected_units must give one label per detection")
        clusters_left = _score_sorting(units, trains, det, list(detected_units), tol)
    return DetectionScore(
        tol, int(all_t.size), int(det.size), tp, fn, fp, neutral, r, p, f, a, units, clusters_left
    )


def _score_sorting(
    units: list[UnitScore], trains: list[np.ndarray], det: np.ndarray, labels: list[Any], tol: float
) -> list[Any]:
    keys = sorted({lab for lab in labels if lab is not None}, key=str)
    lab_arr = np.array([str(lab) if lab is not None else "\0none" for lab in labels])
    det_trains = [det[lab_arr == str(key)] for key in keys]
    agree = np.zeros((len(units), len(keys)))
    hits = np.zeros((len(units), len(keys)), dtype=np.int64)
    for i, tr in enumerate(trains):
        for j, dt in enumerate(det_trains):
            m = match_events(tr, dt, tol)[0].size
            hits[i, j] = m
            denom = tr.size + dt.size - m
            agree[i, j] = m / denom if denom else 0.0
    r, c = linear_sum_assignment(-agree) if agree.size else (np.empty(0, int), np.empty(0, int))
    paired = set()
    for i, j in zip(r, c, strict=True):
        if agree[i, j] <= 0:
            continue
        paired.add(j)
        u = units[i]
        tp_, n_det = int(hits[i, j]), int(det_trains[j].size)
        u.detected_unit = keys[j]
        u.n_detected = n_det
        rec, prec, f1, acc = scores(tp_, u.n_true - tp_, n_det - tp_)
        u.sort_tp, u.sort_recall, u.precision, u.f1, u.accuracy = tp_, rec, prec, f1, acc
    for u in units:
        if u.detected_unit is None:
            u.n_detected, u.sort_tp = 0, 0
            u.sort_recall, u.precision, u.f1, u.accuracy = scores(0, u.n_true, 0)
    return [keys[j] for j in range(len(keys)) if j not in paired]
