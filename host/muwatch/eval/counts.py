"""Comparing estimated unit counts (MUNE, MScanFit, MUNIX-as-count) with the true N.

For a set of estimates (e.g. one per seed) against their true counts: error = estimate − truth;
bias = mean error (and relative to the truth); RMSE; mean absolute relative error; CV of the
estimates (SD/mean, ddof=1) — the across-seed reproducibility, comparable with published
test-retest CVs; and the fraction of estimates within ±20 % (the change treated as real).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from muwatch.errors import UsageError


@dataclass(frozen=True)
class CountComparison:
    """Agreement of count estimates with the truth."""

    n: int
    mean_estimate: float
    mean_truth: float
    bias: float
    rel_bias: float
    rmse: float
    mean_abs_rel_error: float
    cv: float
    within_20pct: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_counts(
    estimates: Sequence[float] | np.ndarray, truth: float | Sequence[float] | np.ndarray
) -> CountComparison:
    """Compare estimates with a true count (scalar) or with one true count per estimate."""
    est = np.asarray(estimates, dtype=float).ravel()
    tru = np.broadcast_to(np.asarray(truth, dtype=float), est.shape).astype(float)
    if est.size == 0:
        raise UsageError("no estimates to compare")
    if not (np.all(np.isfinite(est)) and np.all(np.isfinite(tru))):
        raise UsageError("estimates and truth must be finite numbers")
    if np.any(tru <= 0):
        raise UsageError("true counts must be > 0")
    err = est - tru
    rel = err / tru
    mean = float(est.mean())
    cv = float(est.std(ddof=1) / mean) if est.size > 1 and mean != 0 else float("nan")
    return CountComparison(
        n=int(est.size),
        mean_estimate=mean,
        mean_truth=float(tru.mean()),
        bias=float(err.mean()),
        rel_bias=float(rel.mean()),
        rmse=float(np.sqrt(np.mean(err**2))),
        mean_abs_rel_error=float(np.mean(np.abs(rel))),
        cv=cv,
        within_20pct=float(np.mean(np.abs(rel) <= 0.2)),
    )
