"""Run a detector over simulated cases (scenario × SNR × seed) and score it against the truth.

    def detect(x: np.ndarray, fs: float) -> np.ndarray:  # spike times in seconds
        ...
    rows = detection_grid(detect)              # one row per case and tolerance
    summary = summarise(rows)                  # mean recall/precision/F1 per scenario and SNR

A detector may also return (times, units) to be scored as a sorter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from muwatch.eval.match import TOLERANCES_S, score_detection
from muwatch.eval.truth import channel_index, truth_trains

Case = tuple[str, dict[str, Any]]

# SNRs are peak SNRs (median prominent MUAP peak / noise SD). On the surface of a young muscle
# dozens of small units overlap even at 1 % MVC (no single MUAP reaches 4× the channel's robust
# SD), so the surface cases use an aged muscle (fewer, larger units) at 3 % MVC on one bipolar
# channel, where a few units stand out: the situation surface MUAP indices rely on.
DEFAULT_CASES: tuple[Case, ...] = (
    ("needle-steady", {"peak_snr_db": 20.0}),
    ("needle-steady", {"peak_snr_db": 14.0}),
    ("needle-steady", {"peak_snr_db": 8.0}),
    ("surface-aged", {"force_pct": 3.0, "peak_snr_db": 20.0, "layout": "bipolar"}),
    ("surface-aged", {"force_pct": 3.0, "peak_snr_db": 10.0, "layout": "bipolar"}),
)


def detection_grid(
    detect: Callable[[np.ndarray, float], Any],
    cases: Sequence[Case] = DEFAULT_CASES,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    seconds: float = 10.0,
    channel: str | int | None = None,
    min_snr: float = 4.0,
    measure: str = "sir",
    tolerances_s: tuple[float, ...] = TOLERANCES_S,
) -> list[dict[str, Any]]:
    """Score `detect(signal_volts, fs)` on every case and seed; one row per case × tolerance.

    Only units whose MUAP peak reaches `min_snr` × the channel's background (`measure` "sir":
    robust SD of the recorded channel; "snr": added-noise SD) count as targets; detections of
    smaller units are neutral (neither hits nor false positives).
    """
    from muwatch.sim.scenarios import simulate

    rows = []
    for name, overrides in cases:
        for seed in seeds:
            rec = simulate(name, seconds=seconds, seed=seed, **overrides)
            c = channel_index(rec.truth, channel)
            got = detect(rec.data[c], rec.fs)
            units = None
            if isinstance(got, tuple):
                times, units = np.asarray(got[0], dtype=float), list(got[1])
            else:
                times = np.asarray(got, dtype=float)
            inc, exc, snr = truth_trains(rec.truth, c, min_snr=min_snr, measure=measure)
            for tol in tolerances_s:
                s = score_detection(
                    inc, times, tol, detected_units=units, excluded_trains=exc, snr=snr
                )
                rows.append(
                    {
                        "scenario": name,
                        **{k: v for k, v in overrides.items()},
                        "seed": seed,
                        "channel": rec.channels[c],
                        "tolerance_ms": tol * 1e3,
                        "n_units": sum(1 for v in inc.values() if v.size),
                        "n_true": s.n_true,
                        "n_detected": s.n_detected,
                        "recall": s.recall,
                        "precision": s.precision,
                        "f1": s.f1,
                        "accuracy": s.accuracy,
                        "neutral": s.neutral,
                    }
                )
    return rows


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean scores over seeds for each case and tolerance."""
    keys = ("recall", "precision", "f1", "accuracy")
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        ident = tuple(
            (k, v)
            for k, v in r.items()
            if k not in keys + ("seed", "n_true", "n_detected", "neutral", "n_units")
        )
        groups.setdefault(ident, []).append(r)
    out = []
    for ident, rs in groups.items():
        d = dict(ident) | {"seeds": len(rs)}
        for k in keys:
            vals = np.array([r[k] for r in rs], dtype=float)
            d[k] = (
                float(np.mean(vals[np.isfinite(vals)])) if np.isfinite(vals).any() else float("nan")
            )
        out.append(d)
    return out
