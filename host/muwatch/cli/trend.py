"""`muwatch trend SUBJECT`: a subject's analysed sessions as figures and a table, with the normal
range where one exists (MUNIX/MUSIX, Cao 2020) and a change flagged real only past the
literature's threshold (≥ 20 % for MUNIX) or the smallest real difference of repeated baselines."""

from __future__ import annotations

import json
from pathlib import Path

import click

from muwatch.cli._bridge import data_dir_option
from muwatch.errors import UsageError


@click.command()
@click.argument("subject")
@click.option("--muscle", default=None, help="Only sessions of this muscle.")
@click.option(
    "--baseline-days",
    type=click.FloatRange(min=0),
    default=14.0,
    show_default=True,
    help="Sessions within this many days of the first form the (repeated) baseline.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the HTML trend report (default: <data dir>/trend-<subject>.html).",
)
@click.option("--no-report", is_flag=True, help="Do not write the HTML report.")
@click.option("--json", "as_json", is_flag=True, help="Print the series as JSON.")
@data_dir_option
def command(
    subject: str,
    muscle: str | None,
    baseline_days: float,
    report_path: Path | None,
    no_report: bool,
    as_json: bool,
    data_dir: Path | None,
) -> None:
    """Show SUBJECT's results across sessions."""
    from muwatch.analysis.trend import MEASURES, build_trend
    from muwatch.session.index import SessionIndex
    from muwatch.session.store import SessionStore

    store = SessionStore(data_dir)
    index = SessionIndex(store.index_path)
    rows = index.find(subject=subject, muscle=muscle)
    if not rows:
        raise UsageError(
            f"no sessions of subject {subject!r}"
            + (f" and muscle {muscle!r}" if muscle else "")
            + f" in {store.root} (list them with `muwatch sessions`)"
        )
    sessions = []
    for r in rows:
        latest: dict[str, float] = {}
        for res in index.results(r.id):
            if res.kind in MEASURES and res.value is not None:
                latest[res.kind] = res.value  # results come oldest first: the last one wins
        if latest:
            sessions.append((r.id, r.started_utc, r.muscle, latest))
    if not sessions:
        raise UsageError(
            f"subject {subject!r} has {len(rows)} session(s) but none analysed: run `muwatch analyze SESSION`"
        )
    series = build_trend(sessions, baseline_days=baseline_days)
    out: dict[str, object] = {
        "subject": subject,
        "sessions": len(sessions),
        "series": [s.to_dict() for s in series],
    }
    if not no_report:
        from muwatch.report import write_trend_report

        path = write_trend_report(
            subject, series, report_path or store.root / f"trend-{subject}.html"
        )
        out["report"] = str(path)
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"{subject}: {len(sessions)} analysed session(s)")
    for s in series:
        vals = " → ".join(f"{p.value:.3g}" for p in s.points)
        flag = [p for p in s.points if p.real]
        extra = (
            f"  REAL change at {flag[-1].when[:10]} ({100 * (flag[-1].change or 0):+.0f} %)"
            if flag
            else ""
        )
        rng = f"  [normal {s.normal.low:.0f}-{s.normal.high:.0f}, Cao 2020]" if s.normal else ""
        click.echo(f"  {s.label} ({s.kind}): {vals}{rng}{extra}")
    if "report" in out:
        click.echo(f"report: {out['report']}")
