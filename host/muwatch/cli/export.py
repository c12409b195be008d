"""`muwatch export SESSION... --bids DIR`: finished sessions into a BIDS-EMG dataset."""

from __future__ import annotations

from pathlib import Path

import click

from muwatch.cli._bridge import data_dir_option, store_of
from muwatch.session import export_bids


@click.command()
@click.argument("sessions", nargs=-1, required=True, metavar="SESSION...")
@click.option(
    "--bids",
    "bids_root",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Root folder of the BIDS dataset (created if missing; more sessions are added to it).",
)
@click.option("--overwrite", is_flag=True, help="Replace files of a run already exported.")
@data_dir_option
def command(
    sessions: tuple[str, ...], bids_root: Path, overwrite: bool, data_dir: Path | None
) -> None:
    """Export finished sessions as BIDS-EMG (BDF+ data, emg.json, channels.tsv, events.tsv,
    scans.tsv, participants.tsv, dataset_description.json).

    SESSION is a session id (or a unique prefix of one) or the path of a session folder.
    """
    store = store_of(data_dir)
    for spec in sessions:
        folder = store.resolve(spec)
        out = export_bids(folder, bids_root, overwrite=overwrite)
        click.echo(f"{folder.name} -> {out['bdf'].relative_to(bids_root)}")
    click.echo(f"BIDS dataset: {bids_root}")
