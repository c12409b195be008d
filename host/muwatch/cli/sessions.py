"""`muwatch sessions`: list recorded sessions, filtered; rebuild the index from the folders."""

from __future__ import annotations

import json
from pathlib import Path

import click

from muwatch.cli._bridge import data_dir_option, fmt_duration, store_of
from muwatch.session import SessionIndex
from muwatch.session.index import SessionRow
from muwatch.session.store import JOURNAL_NAME, JournalLock


def _live_status(row: SessionRow) -> str:
    """'recording' rows whose journal nobody holds are interrupted recordings."""
    if row.status != "recording":
        return row.status
    journal = Path(row.path) / JOURNAL_NAME
    if not journal.exists():
        return "missing"
    lock = JournalLock(journal)
    if lock.acquire():
        lock.release()
        return "interrupted"
    return "recording"


@click.command()
@click.option("--subject", help="Only this subject.")
@click.option("--muscle", help="Only this muscle.")
@click.option("--task", help="Only this task.")
@click.option(
    "--status",
    type=click.Choice(["recording", "interrupted", "finalised", "recovered", "empty"]),
    help="Only sessions in this state.",
)
@click.option("--since", metavar="DATE", help="Started on or after this date (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Started before this date (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--rebuild", is_flag=True, help="Rebuild the index from the session folders first.")
@data_dir_option
def command(
    subject: str | None,
    muscle: str | None,
    task: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
    rebuild: bool,
    data_dir: Path | None,
) -> None:
    """List recorded sessions (newest last), with loss and clock figures.

    Interrupted recordings are shown as such; finish them with `muwatch recover ID`.
    """
    store = store_of(data_dir)
    index = SessionIndex(store.index_path)
    if rebuild or (not store.index_path.exists() and store.sessions_dir.is_dir()):
        n = index.rebuild(store.sessions_dir)
        if rebuild and not as_json:
            click.echo(f"index rebuilt from {n} session folder(s) in {store.sessions_dir}")
    rows = index.find(subject=subject, muscle=muscle, task=task, since=since, until=until)
    items = []
    for r in rows:
        st = _live_status(r)
        if status and st != status:
            continue
        items.append((r, st))
    if as_json:
        click.echo(json.dumps([dict(r.as_dict(), status=st) for r, st in items], indent=2))
        return
    if not items:
        click.echo(f"no sessions in {store.root}" + (" matching the filters" if rows else ""))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("session", "subject", "muscle", "task", "started (UTC)", "length", "Hz", "ch"):
        table.add_column(col)
    table.add_column("lost", justify="right")
    table.add_column("gaps", justify="right")
    table.add_column("status")
    for r, st in items:
        table.add_row(
            r.id,
            r.subject,
            r.muscle or "-",
            r.task or "-",
            (r.started_utc or "-")[:19].replace("T", " "),
            fmt_duration(r.duration_s),
            f"{r.sample_rate:g}" if r.sample_rate else "-",
            str(r.n_channels or "-"),
            "-" if r.lost_samples is None else str(r.lost_samples),
            "-" if r.gaps is None else str(r.gaps),
            st if st != "interrupted" else "interrupted (muwatch recover)",
        )
    Console(width=160).print(table)
