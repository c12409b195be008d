"""`muwatch eval-detect`: score detected spikes against simulator ground truth."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click


def _fmt(v: float | None) -> str:
    return "  n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:5.3f}"


@click.command()
@click.option(
    "--truth",
    "truth_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Ground-truth JSON (from `muwatch simulate`).",
)
@click.option(
    "--detected",
    "det_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Detections JSON (from `muwatch detect --json`).",
)
@click.option(
    "--channel",
    default=None,
    help="Channel name or index (default: the one in the detections file).",
)
@click.option(
    "--tolerance-ms",
    "tol_ms",
    type=float,
    multiple=True,
    default=(0.4, 1.0),
    show_default=True,
    help="Matching tolerance (repeatable).",
)
@click.option(
    "--min-snr",
    type=float,
    default=0.0,
    show_default=True,
    help="Count only units whose MUAP peak reaches this on the channel; detections of units between half of it and it are neutral, of smaller ones false positives.",
)
@click.option(
    "--measure",
    type=click.Choice(["snr", "sir"]),
    default="snr",
    show_default=True,
    help="What --min-snr compares: snr = peak / added noise SD; sir = peak / robust SD of the recorded channel.",
)
@click.option("--per-unit", is_flag=True, help="Also print per-unit scores.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def command(
    truth_file: Path,
    det_file: Path,
    channel: str | None,
    tol_ms: tuple[float, ...],
    min_snr: float,
    measure: str,
    per_unit: bool,
    as_json: bool,
) -> None:
    """Match detections to true firings one-to-one (optimal assignment) within each tolerance
    and report recall, precision, F1 and accuracy, overall and per unit."""
    from muwatch.errors import UsageError
    from muwatch.eval import evaluate_detection, read_detected
    from muwatch.sim.recording import read_truth

    for t in tol_ms:
        if not 0 < t <= 50:
            raise UsageError(f"--tolerance-ms must be in (0, 50], got {t:g}")
    truth = read_truth(truth_file)
    det = read_detected(det_file)
    if det.fs is not None and abs(det.fs - float(truth["fs"])) > 1e-6:
        raise UsageError(
            f"detections were made at {det.fs:g} Hz but the truth is at {truth['fs']:g} Hz: not the same recording"
        )
    if det.t.size and (det.t.max() > truth["duration_s"] + 0.1 or det.t.min() < -0.1):
        raise UsageError(
            f"detection times span {det.t.min():.3f}-{det.t.max():.3f} s, outside the {truth['duration_s']:g} s recording"
        )
    res = evaluate_detection(
        truth,
        det,
        channel=channel,
        tolerances_s=tuple(t * 1e-3 for t in tol_ms),
        min_snr=min_snr,
        measure=measure,
    )
    if as_json:
        out = {f"{tol * 1e3:g}ms": s.to_dict() for tol, s in res.items()}
        if not per_unit:
            for v in out.values():
                v.pop("units")
        click.echo(
            json.dumps(
                out,
                indent=1,
                default=lambda o: None if isinstance(o, float) and math.isnan(o) else o,
            )
        )
        return
    ch = channel if channel is not None else det.channel
    click.echo(
        f"truth: {truth_file} ({truth.get('scenario')}, seed {truth.get('seed')}); channel {ch if ch is not None else 0}; min {measure.upper()} {min_snr:g}"
    )
    click.echo(
        "tolerance   true  detected    TP    FN    FP  neutral  recall  precision   F1   accuracy"
    )
    for tol, s in res.items():
        click.echo(
            f"{tol * 1e3:6.2f} ms {s.n_true:6d} {s.n_detected:9d} {s.tp:5d} {s.fn:5d} {s.fp:5d} {s.neutral:8d}   "
            f"{_fmt(s.recall)}    {_fmt(s.precision)}  {_fmt(s.f1)}  {_fmt(s.accuracy)}"
        )
    if per_unit:
        for tol, s in res.items():
            click.echo(
                f"per unit at {tol * 1e3:g} ms:  id  events  found  recall   SNR  cluster precision  F1"
            )
            for u in s.units:
                if u.n_true == 0:
                    continue
                click.echo(
                    f"  {u.id:5d} {u.n_true:7d} {u.tp:6d}  {_fmt(u.recall)} {u.snr if u.snr is not None else float('nan'):6.1f}  "
                    f"{str(u.detected_unit) if u.detected_unit is not None else '-':>7} {_fmt(u.precision)} {_fmt(u.f1)}"
                )
