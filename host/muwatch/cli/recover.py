"""`muwatch recover SESSION`: finish an interrupted recording from its journal."""

from __future__ import annotations

from pathlib import Path

import click

from muwatch.cli._bridge import data_dir_option, fmt_duration, store_of
from muwatch.errors import UsageError
from muwatch.session import SessionIndex, recover_session
from muwatch.session.store import JOURNAL_NAME, JournalLock, SessionStore


def _interrupted(store: SessionStore) -> list[Path]:
    found = []
    for sid in store.session_ids():
        journal = store.sessions_dir / sid / JOURNAL_NAME
        if journal.exists():
            lock = JournalLock(journal)
            if lock.acquire():
                lock.release()
                found.append(journal.parent)
    return found


@click.command()
@click.argument("sessions", nargs=-1, metavar="SESSION...")
@click.option("--all", "all_", is_flag=True, help="Recover every interrupted session.")
@click.option("--keep-journal", is_flag=True, help="Keep the journal after writing the BDF+.")
@data_dir_option
def command(
    sessions: tuple[str, ...], all_: bool, keep_journal: bool, data_dir: Path | None
) -> None:
    """Turn an interrupted recording (crash, kill, power cut, full disk) into a finished session.

    Every whole record of the journal is kept; a torn last record is skipped and reported.
    SESSION is a session id, a unique prefix of one, or the session's folder.
    """
    store = store_of(data_dir)
    if all_:
        folders = _interrupted(store)
        if not folders:
            click.echo("no interrupted sessions")
            return
    elif sessions:
        folders = [store.resolve(s) for s in sessions]
    else:
        raise UsageError("name a SESSION to recover, or pass --all")
    index = SessionIndex(store.index_path)
    for folder in folders:
        summary = recover_session(folder, keep_journal=keep_journal)
        index.upsert(summary, folder)
        j = summary.get("journal") or {}
        lost = summary.get("lost_samples", 0)
        click.echo(
            f"{summary['session_id']}: {summary['status']}, "
            f"{summary.get('received_samples', 0)} samples ({fmt_duration(summary.get('duration_s'))}), "
            f"{lost} lost in {len(summary.get('gaps', []))} gap(s)"
            + (f", {j['bad_bytes']} damaged journal bytes skipped" if j.get("bad_bytes") else "")
        )
        if summary.get("files", {}).get("bdf"):
            click.echo(f"  {folder / summary['files']['bdf']}")
