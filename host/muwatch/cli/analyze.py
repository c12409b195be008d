"""`muwatch analyze SESSION|FILE [--json]`: detection, sorting, motor-unit metrics and every MUNE
method the recording supports; results go to the session index and an HTML report, and the
methods that could not run are listed with the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from muwatch.cli._bridge import data_dir_option
from muwatch.errors import UsageError


def _channel_index(names: list[str], spec: str | None, what: str) -> int | None:
    if spec is None:
        return None
    if spec.lstrip("-").isdigit():
        i = int(spec)
        if not 0 <= i < len(names):
            raise UsageError(f"{what} {i} out of range (0..{len(names) - 1}: {', '.join(names)})")
        return i
    for i, n in enumerate(names):
        if n.strip().lower() == spec.strip().lower():
            return i
    raise UsageError(f"no channel named {spec!r}; channels: {', '.join(names)}")


def _default_report_path(rec: Any, target: str) -> Path:
    if rec.source == "session" and rec.path:
        return Path(rec.path) / "report.html"
    p = Path(target)
    base = p.with_suffix("") if p.suffix else p
    return base.parent / f"{base.name}_report.html"


def store_results(analysis: dict[str, Any], session_id: str, data_dir: Path | None) -> int:
    """One index row per measure (kind = measure key) plus the whole analysis; returns rows."""
    from muwatch.analysis.trend import result_rows
    from muwatch.session.index import SessionIndex
    from muwatch.session.store import SessionStore

    index = SessionIndex(SessionStore(data_dir).index_path)
    n = 0
    for key, value, unit, payload in result_rows(analysis):
        index.add_result(session_id, key, payload, value=value, unit=unit)
        n += 1
    slim = {k: v for k, v in analysis.items() if k != "units"} | {"n_units": len(analysis["units"])}
    index.add_result(session_id, "analysis", slim)
    return n + 1


def summary_lines(d: dict[str, Any]) -> list[str]:
    m = d["methods"]
    lines = []
    if "munix" in m and m["munix"]["munix"] is not None:
        r = m["munix"]
        lines.append(
            f"MUNIX {r['munix']:.0f}, MUSIX {r['musix_uv']:.0f} µV (R² {r['r2']:.2f}, {r['n_accepted']} epochs)"
        )
    if "cmap_scan" in m:
        lines.append(f"CMAP-scan MUNE {m['cmap_scan']['mune']}")
    for key, name in (
        ("poisson", "statistical MUNE"),
        ("incremental", "incremental MUNE"),
        ("sta_mune", "STA MUNE"),
    ):
        if key in m and m[key].get("mune") is not None:
            lines.append(f"{name} {m[key]['mune']:.0f}")
    if "cmap" in m:
        lines.append(f"CMAP {m['cmap']['amplitude_uv']:.0f} µV")
    s = d["indices"].get("surface")
    if s:
        size = f"{s['mean_smuap_uv']:.0f} µV" if s["mean_smuap_uv"] is not None else "–"
        lines.append(
            f"indices (index, not MUNE) at {s['force_label']}: {s['muap_count_index']} units, mean S-MUAP {size}"
        )
    if d["units"]:
        lines.append(f"{len(d['units'])} needle units (QEMG)")
    for n in d["not_run"]:
        lines.append(f"not run: {n['method']}: {n['reason']}")
    return lines


@click.command()
@click.argument("target", metavar="SESSION|FILE")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--channel", default=None, help="Surface channel (index or name) for CMAP, MUNIX and indices."
)
@click.option(
    "--needle", default=None, help="Needle channel (index or name) for QEMG, jitter and jiggle."
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the HTML report (default: in the session folder, or next to the file).",
)
@click.option("--no-report", is_flag=True, help="Do not write the HTML report.")
@click.option("--no-store", is_flag=True, help="Do not store the results in the session index.")
@data_dir_option
def command(
    target: str,
    as_json: bool,
    channel: str | None,
    needle: str | None,
    report_path: Path | None,
    no_report: bool,
    no_store: bool,
    data_dir: Path | None,
) -> None:
    """Analyse a session (id, folder) or an EDF/BDF/WFDB file: detection, sorting, QEMG, jitter,
    MUNIX, CMAP-scan, statistical and incremental MUNE, stimulator-free indices (index, not
    MUNE). Says which methods could not run and why."""
    from muwatch.analysis.pipeline import analyze, load_recording

    rec = load_recording(target, data_dir=data_dir)
    sc = _channel_index(rec.channels, channel, "channel")
    nc = _channel_index(rec.channels, needle, "needle channel")
    if nc is not None:
        rec.kinds[nc] = "needle"
    if sc is not None:
        rec.kinds[sc] = "surface"
    result = analyze(rec, surface_channel=sc, needle_channel=nc)
    d = result.to_dict()
    if not no_report:
        from muwatch.report import write_report

        path = write_report(result, rec, report_path or _default_report_path(rec, target))
        d["report"] = str(path)
    if rec.session_id and not no_store:
        d["stored_results"] = store_results(d, rec.session_id, data_dir)
    if as_json:
        click.echo(json.dumps(d, indent=2, default=_jsonable))
        return
    who = rec.session_id or Path(target).name
    click.echo(
        f"{who}: {rec.n_samples / rec.fs:.1f} s at {rec.fs:g} Hz, {len(rec.channels)} channel(s)"
    )
    for line in summary_lines(d):
        click.echo(f"  {line}")
    if "report" in d:
        click.echo(f"report: {d['report']}")


def _jsonable(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
