"""BDF+ export of a simulated recording (edfio), with the ground truth as a JSON sidecar.

Samples are stored as the ADS1299 would deliver them: physical range ±Vref/gain (in µV) over
the 24-bit digital range, so every stored value is an exact converter code. Annotations carry
the phases, stimuli (the triggers) and artifacts. The sidecar `<stem>_truth.json` holds the
ground truth (`read_truth`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from muwatch.errors import StorageError, UsageError
from muwatch.sim.ads1299 import (
    CODE_MAX,
    CODE_MIN,
    DEFAULT_GAIN,
    DEFAULT_VREF,
    GAINS,
    SaturationWarning,
)
from muwatch.sim.recording import Recording, write_truth

_RECORD_S = (1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.04, 0.025, 0.02, 0.01)


def _record_duration(fs: float, n: int) -> tuple[float, int]:
    """A data-record duration holding a whole number of samples that divides the recording."""
    for d in _RECORD_S:
        per = fs * d
        if abs(per - round(per)) < 1e-9 and n % int(round(per)) == 0:
            return d, 0
    d = next((d for d in _RECORD_S if abs(fs * d - round(fs * d)) < 1e-9), None)
    if d is None:
        raise UsageError(
            f"sampling rate {fs:g} Hz gives no whole number of samples per data record"
        )
    per = int(round(fs * d))
    return d, (-n) % per


def write_bdf(
    rec: Recording,
    path: str | Path,
    *,
    gain: int = DEFAULT_GAIN,
    vref: float = DEFAULT_VREF,
    truth_sidecar: bool = True,
) -> Path:
    """Write `rec` as BDF+ at `path` (and `<stem>_truth.json` beside it); returns the BDF path.

    When the length is not a whole number of data records, the last record is padded with the
    final sample value and a "padding (not recorded)" annotation marks it.
    """
    import edfio

    if gain not in GAINS:
        raise UsageError(f"ADS1299 gain must be one of {GAINS}, got {gain}")
    path = Path(path)
    full_uv = vref / gain * 1e6
    data_uv = rec.data * 1e6
    over = int(np.count_nonzero(np.abs(data_uv) > full_uv))
    if over:
        warnings.warn(
            f"{over} samples beyond ±{full_uv:.0f} uV were clipped in the BDF",
            SaturationWarning,
            stacklevel=2,
        )
    d, pad = _record_duration(rec.fs, rec.n_samples)
    if pad:
        data_uv = np.concatenate((data_uv, np.repeat(data_uv[:, -1:], pad, axis=1)), axis=1)
    data_uv = np.clip(data_uv, -full_uv, full_uv * CODE_MAX / -CODE_MIN)
    signals = [
        edfio.BdfSignal(
            data_uv[c],
            rec.fs,
            label=name,
            transducer_type="needle electrode" if kind == "needle" else "surface electrode",
            physical_dimension="uV",
            physical_range=(-full_uv, full_uv * CODE_MAX / -CODE_MIN),
            digital_range=(CODE_MIN, CODE_MAX),
            prefiltering="none (simulated)",
        )
        for c, (name, kind) in enumerate(zip(rec.channels, rec.kinds, strict=True))
    ]
    anns = [
        edfio.EdfAnnotation(a.onset, a.duration if a.duration > 0 else None, a.text)
        for a in rec.annotations
    ]
    if pad:
        anns.append(edfio.EdfAnnotation(rec.duration, pad / rec.fs, "padding (not recorded)"))
    bdf = edfio.Bdf(
        signals,
        recording=edfio.Recording(
            equipment_code="muwatch-sim",
            additional=(f"scenario={rec.scenario}", f"seed={rec.seed}"),
        ),
        data_record_duration=d,
        annotations=anns,
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        bdf.write(path)
        if truth_sidecar:
            write_truth(truth_path(path), rec.truth)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc
    return path


def truth_path(bdf_path: str | Path) -> Path:
    """Where the ground-truth sidecar of a BDF file lives."""
    p = Path(bdf_path)
    return p.with_name(p.stem + "_truth.json")


def save_recording(
    rec: Recording,
    stem: str | Path,
    *,
    gain: int = DEFAULT_GAIN,
    vref: float = DEFAULT_VREF,
    what: tuple[str, ...] = ("bdf", "truth", "source"),
) -> list[Path]:
    """Write `<stem>.bdf`, `<stem>_truth.json` and the signal source `<stem>.i32/.json`.

    The signal source carries the annotations and trigger times in its header, so the
    firmware's ADS1299 model can replay a whole session with its stimulus triggers.
    """
    from muwatch.sim.ads1299 import to_ads1299_codes, write_signal_source

    unknown = set(what) - {"bdf", "truth", "source"}
    if unknown:
        raise UsageError(f"unknown output kind(s) {sorted(unknown)}; known: bdf, truth, source")
    stem = Path(stem)
    written: list[Path] = []
    if "bdf" in what:
        written.append(
            write_bdf(
                rec, stem.with_name(stem.name + ".bdf"), gain=gain, vref=vref, truth_sidecar=False
            )
        )
    if "truth" in what:
        written.append(write_truth(truth_path(stem.with_name(stem.name + ".bdf")), rec.truth))
    if "source" in what:
        if len(rec.channels) > 8:
            raise UsageError("the ADS1299 has 8 channels; this recording has more")
        meta = {
            "gain": gain,
            "vref": vref,
            "scenario": rec.scenario,
            "seed": rec.seed,
            "channels": list(rec.channels),
            "annotations": [[a.onset, a.duration, a.text] for a in rec.annotations],
            "triggers": list(rec.extras.get("triggers", [])),
        }
        written.extend(
            write_signal_source(
                stem, to_ads1299_codes(rec.data, gain=gain, vref=vref), rec.fs, meta
            )
        )
    return written
