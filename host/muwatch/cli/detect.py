"""`muwatch detect`: MUAP spikes of one channel of an EDF/BDF(+) file or a WFDB record."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from muwatch.errors import FileFormatError, UsageError


@dataclass
class Channel:
    name: str
    fs: float
    data: np.ndarray  # physical values
    unit: str
    index: int


def _pick(names: list[str], channel: str | None, path: Path) -> int:
    if not names:
        raise FileFormatError(f"{path}: no signal channels in the file")
    if channel is None:
        return 0
    if channel.lstrip("-").isdigit():
        i = int(channel)
        if not 0 <= i < len(names):
            raise UsageError(
                f"channel {i} out of range: {path.name} has {len(names)} channels "
                f"(0..{len(names) - 1}: {', '.join(names)})"
            )
        return i
    matches = [i for i, n in enumerate(names) if n.strip() == channel.strip()]
    if not matches:
        matches = [i for i, n in enumerate(names) if n.strip().lower() == channel.strip().lower()]
    if not matches:
        raise UsageError(
            f"no channel named {channel!r} in {path.name}; channels: {', '.join(names)}"
        )
    return matches[0]


def read_channel(path: Path, channel: str | None) -> Channel:
    """One channel in physical units from EDF/EDF+/BDF/BDF+ (edfio) or WFDB (.hea, wfdb)."""
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".hea" or (suffix == "" and path.with_suffix(".hea").exists()):
        import wfdb

        base = path.with_suffix("") if suffix == ".hea" else path
        try:
            rec = wfdb.rdrecord(str(base))
        except Exception as exc:  # wfdb raises many types for damaged records
            raise FileFormatError(f"{path}: not a readable WFDB record ({exc})") from exc
        if rec.p_signal is None or rec.fs is None:
            raise FileFormatError(f"{path}: WFDB record without physical signals or rate")
        names = [str(n) for n in (rec.sig_name or [])]
        i = _pick(names, channel, path)
        units = rec.units or [""] * len(names)
        return Channel(names[i], float(rec.fs), np.asarray(rec.p_signal[:, i], float), units[i], i)
    if suffix in (".edf", ".bdf"):
        import edfio

        reader = edfio.read_bdf if suffix == ".bdf" else edfio.read_edf
        try:
            rec = reader(path)
        except Exception as exc:  # edfio raises ValueError and friends on damaged headers
            raise FileFormatError(
                f"{path}: not a readable {suffix[1:].upper()} file ({exc})"
            ) from exc
        sigs = list(rec.signals)
        names = [s.label for s in sigs]
        i = _pick(names, channel, path)
        s = sigs[i]
        return Channel(
            s.label, float(s.sampling_frequency), np.asarray(s.data, float), s.physical_dimension, i
        )
    raise FileFormatError(
        f"{path}: unknown format {path.suffix or '(none)'}; give an .edf/.bdf file or a WFDB .hea"
    )


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--channel", "-c", default=None, help="channel index (0-based) or name [0]")
@click.option(
    "--preset",
    type=click.Choice(["surface", "needle"]),
    default="needle",
    show_default=True,
    help="detection settings",
)
@click.option(
    "--sort",
    "do_sort",
    is_flag=True,
    help="decompose into motor units (templates + peel-off; overlaps resolved)",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON: fs, channel, spikes")
def command(file: Path, channel: str | None, preset: str, do_sort: bool, as_json: bool) -> None:
    """Detect MUAP spikes in FILE (EDF/BDF(+) or a WFDB record's .hea) with the C core.

    With --sort the channel is decomposed (muwatch.analysis.decompose): every discharge of a
    unit at that unit's reference point, plus the detections no unit explains (unit null)."""
    from muwatch.analysis import decompose, detect_spikes

    ch = read_channel(file, channel)
    res = detect_spikes(ch.data, ch.fs, preset, keep_filtered=do_sort)
    dec = decompose(ch.data, ch.fs, preset, detection=res) if do_sort else None
    ev = res.events
    if as_json:
        if dec is not None:
            rows = zip(dec.events["t"], dec.events["amplitude"], dec.events["unit"], strict=True)
        else:
            rows = zip(ev["t"], ev["amplitude"], np.full(len(ev), -1), strict=True)
        spikes = [
            {"t": round(float(t), 7), "amplitude": float(a), "unit": int(u) if u >= 0 else None}
            for t, a, u in rows
        ]
        click.echo(json.dumps({"fs": ch.fs, "channel": ch.name, "spikes": spikes}))
        return
    dur = len(ch.data) / ch.fs
    unit = ch.unit or "units"
    click.echo(
        f"{file.name}: channel {ch.index} ({ch.name}), {ch.fs:g} Hz, {dur:.1f} s, preset {preset}"
    )
    notch = f", notch {res.notch_hz:g} Hz" if res.notch_hz else ""
    click.echo(f"noise sigma {res.noise_sigma:.4g} {unit}{notch}")
    c = res.counters
    click.echo(
        f"{len(ev)} spikes ({len(ev) / dur:.1f}/s); artifacts rejected {c['rejected']}, "
        f"samples not searched (start-up) {c['unsearched']}"
    )
    if dec is not None:
        click.echo(
            f"{dec.n_units} units, {dec.counters['fits']} discharges; "
            f"unassigned {dec.counters['unassigned']} detections; "
            f"residual sigma {dec.residual_sigma:.4g} {unit}"
        )
        for u, t in dec.trains.items():
            amp = np.median(np.abs(dec.events["amplitude"][dec.events["unit"] == u]))
            rate = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
            click.echo(
                f"  unit {u}: {len(t)} discharges, {rate:.1f} Hz, median |peak| {amp:.4g} {unit}"
            )
