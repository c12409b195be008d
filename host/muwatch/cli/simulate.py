"""`muwatch simulate`: a simulated recording with its ground truth (BDF+, truth JSON, signal source)."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from muwatch.errors import StorageError, UsageError


@click.command()
@click.option(
    "--scenario",
    "-s",
    default="surface-steady",
    show_default=True,
    help="Scenario preset (see --list).",
)
@click.option(
    "--seconds", type=float, default=None, help="Length in seconds (default: the scenario's)."
)
@click.option(
    "--fs",
    type=float,
    default=None,
    help="Sampling rate in Hz, 1000-20000 (default: the scenario's).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder.",
)
@click.option(
    "--gain", type=int, default=24, show_default=True, help="ADS1299 gain for codes and BDF range."
)
@click.option(
    "--snr-db", type=float, default=None, help="Override the noise: SNR against the signal RMS."
)
@click.option(
    "--what",
    type=click.Choice(["all", "bdf", "source", "truth"]),
    multiple=True,
    default=("all",),
    show_default=True,
    help="Which files to write (repeatable).",
)
@click.option("--list", "list_only", is_flag=True, help="List the scenario presets and exit.")
def command(
    scenario: str,
    seconds: float | None,
    fs: float | None,
    seed: int,
    out_dir: Path | None,
    gain: int,
    snr_db: float | None,
    what: tuple[str, ...],
    list_only: bool,
) -> None:
    """Simulate a recording with known truth (motor units, firings, CMAPs, stimuli).

    Writes into OUT: NAME.bdf (BDF+ with annotations), NAME_truth.json (ground truth), and
    NAME.i32 + NAME.json (ADS1299 codes for the firmware's simulated front-end), where NAME
    is <scenario>_seed<seed>.
    """
    from muwatch import sim
    from muwatch.sim.ads1299 import SaturationWarning
    from muwatch.sim.emg import check_fs

    if list_only:
        for name, text in sim.describe().items():
            click.echo(f"{name:16s} {text}")
        return
    if out_dir is None:
        raise UsageError("--out DIR is required (the folder to write the recording into)")
    sim.get_scenario(scenario)  # unknown names fail here, listing the known ones
    if fs is not None:
        check_fs(fs)
    if seconds is not None and not 0 < seconds <= 3600:
        raise UsageError(f"--seconds must be in (0, 3600], got {seconds:g}")
    overrides = {} if snr_db is None else {"snr_db": snr_db}
    rec = sim.simulate(scenario, seconds=seconds, fs=fs, seed=seed, **overrides)
    kinds = {"bdf", "source", "truth"} if "all" in what else set(what)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {out_dir}: {exc}") from exc
    stem = out_dir / f"{scenario}_seed{seed}"
    order = tuple(k for k in ("bdf", "truth", "source") if k in kinds)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SaturationWarning)
        written = sim.save_recording(rec, stem, gain=gain, what=order)
    for w in caught:
        click.echo(f"muwatch: warning: {w.message}", err=True)
    n_units = rec.truth.get("n_units")
    n_fire = sum(1 for f in rec.firings() if f.size)
    click.echo(
        f"{scenario} seed {seed}: {len(rec.channels)} ch × {rec.n_samples} samples at {rec.fs:g} Hz "
        f"({rec.duration:g} s); {n_units} motor units, {n_fire} firing; {len(rec.truth.get('stimuli', []))} stimuli"
    )
    for p in written:
        click.echo(f"  {p}")
