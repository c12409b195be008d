"""BIDS-EMG export (BIDS ≥ 1.11): a finished session becomes one run in a BIDS dataset.

    <root>/dataset_description.json, README, participants.tsv/.json
    <root>/sub-<S>/ses-<L>/sub-<S>_ses-<L>_scans.tsv          filename, acq_time
    <root>/sub-<S>/ses-<L>/emg/sub-<S>_ses-<L>_task-<T>_emg.bdf  (the session's BDF+, copied)
                                  ..._emg.json  ..._channels.tsv  ..._events.tsv/.json

Exporting more sessions into the same root adds rows to participants.tsv and scans.tsv.
Samples missing from the recording are listed in events.tsv as `BAD_GAP` events with their
exact onset and duration, the same representation as in the BDF+ itself.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

from muwatch import __version__
from muwatch.errors import FileFormatError, StorageError, UsageError
from muwatch.session.finalise import Gap, gap_text
from muwatch.session.journal import make_private_dir
from muwatch.session.meta import check_label, parse_iso
from muwatch.session.store import read_summary, write_private

BIDS_VERSION = "1.11.0"


def _tsv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["n/a" if r.get(c) in (None, "") else r[c] for c in columns])
    return buf.getvalue().encode()


def _read_tsv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def _num(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") if x else "0"


def export_bids(folder: Path, root: Path, *, overwrite: bool = False) -> dict[str, Path]:
    """Export the finished session in `folder` into the BIDS dataset at `root`."""
    folder = Path(folder)
    summary = read_summary(folder)
    if summary is None or summary.get("status") not in ("finalised", "recovered"):
        state = summary.get("status") if summary else "not finalised"
        raise FileFormatError(
            f"session {folder.name} is {state}; only finished sessions can be exported "
            f"(run `muwatch recover {folder.name}` first if it was interrupted)"
        )
    bdf_name = (summary.get("files") or {}).get("bdf")
    bdf = folder / bdf_name if bdf_name else None
    if bdf is None or not bdf.exists():
        raise FileFormatError(f"session {folder.name} has no BDF+ file to export")
    meta = summary.get("meta") or {}
    sub = check_label("subject", summary["subject"])
    task = check_label("task", summary["task"])
    ses = check_label("session label", summary.get("session_label") or "1")
    fs = float(summary["sample_rate"])

    root = Path(root)
    try:
        make_private_dir(root)
    except OSError as exc:
        raise StorageError(f"cannot create {root}: {exc.strerror}") from exc
    ses_dir = root / f"sub-{sub}" / f"ses-{ses}"
    emg_dir = ses_dir / "emg"
    stem = f"sub-{sub}_ses-{ses}_task-{task}"
    target = emg_dir / f"{stem}_emg.bdf"
    if target.exists() and not overwrite:
        raise UsageError(f"{target} already exists; pass --overwrite to replace it")
    make_private_dir(emg_dir)

    _dataset_files(root)
    _participant(root, sub)
    tmp = target.with_name(f".{target.name}.part")
    try:
        shutil.copyfile(bdf, tmp)
        tmp.chmod(0o600)
        tmp.replace(target)
    except OSError as exc:
        raise StorageError(f"cannot copy {bdf} to {target}: {exc.strerror}") from exc

    device = meta.get("device") or {}
    lp = 0.262 * fs
    sidecar = {
        "TaskName": task,
        "TaskDescription": f"muwatch recording of {summary.get('muscle') or 'a muscle'}",
        "EMGPlacementScheme": meta.get("placement_scheme") or "Other",
        "EMGPlacementSchemeDescription": meta.get("placement_description")
        or f"surface electrodes over {summary.get('muscle') or 'the target muscle'}",
        "EMGReference": meta.get("reference") or "bipolar",
        "SamplingFrequency": fs,
        "PowerLineFrequency": float(meta.get("power_line_hz") or 50.0),
        "SoftwareFilters": "n/a",
        "HardwareFilters": {
            "ADS1299 sinc3 decimation filter": {"LowpassCutoffHz": round(lp, 3)},
        },
        "RecordingType": "continuous",
        "RecordingDuration": float(summary["duration_s"]),
        "EMGChannelCount": int(summary["n_channels"]),
        "Manufacturer": "muwatch (open hardware)",
        "ManufacturersModelName": str(device.get("board") or "muwatch sensor"),
        "DeviceSerialNumber": str(device.get("serial") or "n/a"),
        "SoftwareVersions": f"firmware {device.get('firmware') or 'n/a'}; host muwatch {__version__}",
        "AmplifierType": "TI ADS1299 24-bit biopotential front-end",
        "ElectrodeType": "surface",
        "SubjectArtefactDescription": _artefacts(summary),
    }
    if meta.get("ground"):
        sidecar["EMGGround"] = meta["ground"]
    write_private(emg_dir / f"{stem}_emg.json", (json.dumps(sidecar, indent=2) + "\n").encode())

    channels = [
        {
            "name": label,
            "type": "EMG",
            "units": "uV",
            "description": f"front-end channel {num}, gain {meta.get('gain')}",
            "sampling_frequency": _num(fs),
            "target_muscle": summary.get("muscle") or None,
            "low_cutoff": None,
            "high_cutoff": _num(round(lp, 3)),
            "status": "good",
            "status_description": None,
        }
        for label, num in zip(
            summary["channel_labels"], meta.get("channel_numbers") or [], strict=False
        )
    ]
    write_private(
        emg_dir / f"{stem}_channels.tsv",
        _tsv(
            channels,
            [
                "name",
                "type",
                "units",
                "description",
                "sampling_frequency",
                "target_muscle",
                "low_cutoff",
                "high_cutoff",
                "status",
                "status_description",
            ],
        ),
    )

    events = [
        {
            "onset": _num(a["onset_s"]),
            "duration": _num(a["duration_s"]),
            "sample": a["sample"],
            "trial_type": a["kind"],
            "value": a["text"],
        }
        for a in summary.get("annotations", [])
    ]
    for g in summary.get("gaps", []):
        gap = Gap(int(g["first"]), int(g["count"]), str(g["cause"]))
        events.append(
            {
                "onset": _num(gap.first / fs),
                "duration": _num(gap.count / fs),
                "sample": gap.first,
                "trial_type": "BAD_GAP",
                "value": gap_text(gap),
            }
        )
    events.sort(key=lambda e: (int(e["sample"]), e["trial_type"]))
    write_private(
        emg_dir / f"{stem}_events.tsv",
        _tsv(events, ["onset", "duration", "sample", "trial_type", "value"]),
    )
    write_private(
        emg_dir / f"{stem}_events.json", (json.dumps(_EVENTS_JSON, indent=2) + "\n").encode()
    )

    scans = ses_dir / f"sub-{sub}_ses-{ses}_scans.tsv"
    rel = f"emg/{target.name}"
    acq = parse_iso(summary["started_utc"]).strftime("%Y-%m-%dT%H:%M:%S.%f")
    rows: list[dict[str, Any]] = []
    if scans.exists():
        _, rows = _read_tsv(scans)
        rows = [r for r in rows if r.get("filename") != rel]
    rows.append({"filename": rel, "acq_time": acq})
    write_private(scans, _tsv(rows, ["filename", "acq_time"]))
    return {
        "bdf": target,
        "sidecar": emg_dir / f"{stem}_emg.json",
        "channels": emg_dir / f"{stem}_channels.tsv",
        "events": emg_dir / f"{stem}_events.tsv",
        "scans": scans,
    }


_EVENTS_JSON = {
    "sample": {"Description": "Sample index of the onset in the recording (0 = first sample)."},
    "trial_type": {
        "Description": "What kind of event this is.",
        "Levels": {
            "marker": "A marker set during recording (keypress or API), placed by the device.",
            "phase": "A protocol phase (duration = the phase's length).",
            "lead_off": "An electrode contact change reported by the front-end.",
            "trigger": "An edge on the trigger input (stimulator sync).",
            "battery": "The sensor reported a low battery.",
            "safety": "A safety warning, e.g. the sensor was on USB power (docs/safety.md).",
            "link": "The radio or cable link to the sensor dropped or came back.",
            "note": "A note added during recording.",
            "BAD_GAP": "Samples that never reached the host; the data file holds zeros there.",
        },
    },
    "value": {"Description": "The event's text as written in the BDF+ annotations."},
}


def _artefacts(summary: dict[str, Any]) -> str:
    lost = int(summary.get("lost_samples") or 0)
    if not lost:
        return "No samples lost."
    return (
        f"{lost} samples lost in {len(summary.get('gaps', []))} gap(s), written as zeros and "
        "listed as BAD_GAP events."
    )


def _dataset_files(root: Path) -> None:
    desc = root / "dataset_description.json"
    if not desc.exists():
        write_private(
            desc,
            (
                json.dumps(
                    {
                        "Name": "muwatch EMG recordings",
                        "BIDSVersion": BIDS_VERSION,
                        "DatasetType": "raw",
                        "GeneratedBy": [{"Name": "muwatch", "Version": __version__}],
                    },
                    indent=2,
                )
                + "\n"
            ).encode(),
        )
    readme = root / "README.md"
    if not readme.exists() and not (root / "README").exists():
        write_private(
            readme,
            b"# muwatch EMG recordings\n\nSurface EMG recorded with the muwatch wearable sensor "
            b"and exported by `muwatch export`. Samples that never reached the host are zeros in "
            b"the data files and are listed as BAD_GAP events with exact onset and duration.\n",
        )
    pj = root / "participants.json"
    if not pj.exists():
        write_private(
            pj,
            (
                json.dumps(
                    {"participant_id": {"Description": "Participant label as used in muwatch."}},
                    indent=2,
                )
                + "\n"
            ).encode(),
        )


def _participant(root: Path, sub: str) -> None:
    path = root / "participants.tsv"
    columns: list[str] = ["participant_id"]
    rows: list[dict[str, str]] = []
    if path.exists():
        columns, rows = _read_tsv(path)
        if "participant_id" not in columns:
            raise FileFormatError(f"{path} has no participant_id column; is {root} a BIDS dataset?")
    if any(r.get("participant_id") == f"sub-{sub}" for r in rows):
        return
    rows.append({"participant_id": f"sub-{sub}"})
    write_private(path, _tsv(rows, columns))
