"""Evaluation harness: score detections, sortings and unit counts against simulator truth.

    from muwatch.eval import score_detection, truth_trains, match_events, compare_counts

    inc, exc, snr = truth_trains(rec.truth, "EMG1", min_snr=3)
    s = score_detection(inc, detected_times, 0.4e-3, excluded_trains=exc, snr=snr)
    s.recall, s.precision, s.f1, s.accuracy, s.units[0].recall

`evaluate_detection(truth, detected)` does both tolerances (0.4 ms and 1 ms) at once;
`detection_grid(detect)` runs a detector function over simulated cases (needle and surface,
several SNRs and seeds) and `summarise(rows)` averages over seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from muwatch.eval.counts import CountComparison, compare_counts
from muwatch.eval.grid import DEFAULT_CASES, detection_grid, summarise
from muwatch.eval.match import (
    TOLERANCES_S,
    DetectionScore,
    UnitScore,
    match_events,
    score_detection,
    scores,
)
from muwatch.eval.truth import Detected, channel_index, parse_detected, read_detected, truth_trains

__all__ = [
    "DEFAULT_CASES",
    "TOLERANCES_S",
    "CountComparison",
    "Detected",
    "DetectionScore",
    "UnitScore",
    "channel_index",
    "compare_counts",
    "detection_grid",
    "evaluate_detection",
    "match_events",
    "parse_detected",
    "read_detected",
    "score_detection",
    "scores",
    "summarise",
    "truth_trains",
]


def evaluate_detection(
    truth: dict[str, Any],
    detected: Detected,
    *,
    channel: str | int | None = None,
    tolerances_s: tuple[float, ...] = TOLERANCES_S,
    min_snr: float = 0.0,
    measure: str = "snr",
) -> dict[float, DetectionScore]:
    """Scores at each tolerance for detections on one channel (default: the detect JSON's)."""
    ch = channel if channel is not None else detected.channel
    inc, exc, snr = truth_trains(truth, ch, min_snr=min_snr, measure=measure)
    units = detected.units if any(u is not None for u in detected.units) else None
    return {
        tol: score_detection(
            inc, np.asarray(detected.t), tol, detected_units=units, excluded_trains=exc, snr=snr
        )
        for tol in tolerances_s
    }
