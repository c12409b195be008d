"""Incremental MUNE (McComas et al. 1971): graded stimuli from threshold upward recruit units one
by one as all-or-none increments; the mean S-MUP is the response after the first k increments
(k ≤ 10) divided by k, and MUNE = CMAP / mean S-MUP.

Increments are found as distinct response levels (clusters separated by more than 4 noise SD
and seen at least twice), in order of size from the floor. Alternation (two units with close
thresholds firing in turn) creates levels that are not new units: the classic overcount, which
shrinks the mean S-MUP and raises MUNE; it is stated in the result.

McComas's estimate rests on ~10 all-or-none increments: with fewer, the mean S-MUP is that of
the two or three lowest-threshold axons, and one alternation or missed level moves it by a third
or more. Fewer than `MIN_INCREMENTS` (10) give no MUNE, with the reason. When it runs, the
spread of the increments gives its uncertainty: S-MUP ± 1.96 SD/√k, MUNE = CMAP over that range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from muwatch.analysis._fixed import as_float_array
from muwatch.errors import UsageError

METHOD = "incremental MUNE (McComas 1971)"
MIN_INCREMENTS = 10


@dataclass(frozen=True)
class IncrementalResult:
    mune: float | None
    smup_uv: float | None
    levels_uv: tuple[float, ...]
    n_increments: int
    cmap_uv: float
    notes: tuple[str, ...]
    mune_range: tuple[float, float] | None = None  # CMAP / (S-MUP ± 1.96 SD/√k)
    smup_sd_uv: float | None = None  # SD of the increments
    method: str = METHOD
    kind: str = "MUNE"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def response_levels(values: np.ndarray, noise_uv: float, min_count: int = 2) -> list[float]:
    """Distinct levels of a set of responses: sorted values split where neighbours differ by more
    than 4 noise SD; clusters seen fewer than `min_count` times are dropped."""
    v = np.sort(values)
    if v.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(v) > 4.0 * max(noise_uv, 1e-12)) + 1
    return [float(c.mean()) for c in np.split(v, cuts) if c.size >= min_count]


def incremental_mune(
    stimuli_ma: object,
    responses_uv: object,
    cmap_uv: float,
    noise_uv: float,
    *,
    max_increments: int = 10,
    max_fraction: float = 0.25,
    min_increments: int = MIN_INCREMENTS,
) -> IncrementalResult:
    """MUNE from graded stimuli (or the low part of a CMAP scan): responses up to
    `max_fraction` of the CMAP are clustered into levels; the first `max_increments` above the
    floor give the mean S-MUP. Fewer than `min_increments` give no MUNE (mune None, the last
    note says why)."""
    s = as_float_array(stimuli_ma, "stimuli", min_len=5)
    y = as_float_array(responses_uv, "responses", min_len=5)
    if s.size != y.size:
        raise UsageError("stimuli and responses differ in length")
    if not cmap_uv > 0 or not noise_uv > 0:
        raise UsageError("CMAP size and noise SD must be positive")
    if not 1 <= max_increments <= 30:
        raise UsageError("max_increments must be within 1-30")
    if not 1 <= min_increments <= max_increments:
        raise UsageError("min_increments must be within 1..max_increments")
    low = y[y <= max_fraction * cmap_uv]
    levels = response_levels(low, noise_uv)
    notes = ["alternation of units with close thresholds can add levels (MUNE too high)"]
    if len(levels) < 2:
        notes.append("fewer than two response levels near threshold: no incremental MUNE")
        return IncrementalResult(None, None, tuple(levels), 0, cmap_uv, tuple(notes))
    floor = levels[0]
    inc = levels[1 : max_increments + 1]
    k = len(inc)
    if k < min_increments:
        notes.append(
            f"only {k} all-or-none increments below {max_fraction:.0%} of the CMAP; McComas's "
            f"estimate needs >= {min_increments} (more graded stimuli near threshold)"
        )
        return IncrementalResult(None, None, tuple(levels), k, cmap_uv, tuple(notes))
    smup = (inc[-1] - floor) / k
    steps = np.diff(np.r_[floor, inc])
    sd = float(np.std(steps, ddof=1)) if k > 1 else 0.0
    half = 1.96 * sd / np.sqrt(k)
    rng = (cmap_uv / (smup + half), cmap_uv / max(smup - half, 1e-3 * smup)) if half > 0 else None
    return IncrementalResult(
        cmap_uv / smup,
        smup,
        tuple(levels),
        k,
        cmap_uv,
        tuple(notes),
        mune_range=rng,
        smup_sd_uv=sd,
    )
