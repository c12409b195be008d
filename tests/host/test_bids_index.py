"""BIDS-EMG export (validated by the official validator) and the SQLite session index."""

from __future__ import annotations

import csv
import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hostkit import FakeSession
from muwatch.errors import FileFormatError, StorageError, UsageError
from muwatch.session import SessionIndex, export_bids, finalise_session
from muwatch.session import journal as jr

VALIDATOR = Path(sys.executable).parent / "bids-validator-deno"


def _finished(store, subject="p01", task="grip", label="20250102T030405", gap=False, seed=0):
    s = FakeSession(store, n=6000, seed=seed, subject=subject, task=task, session_label=label)
    s.blocks(0, 6000, skip=[(1800, 2700)] if gap else [])
    s.writer.append_json(
        jr.ANNOT, {"index": 300, "duration": 0, "text": "MARKER 2: key 2", "kind": "marker"}
    )
    s.writer.append_json(
        jr.ANNOT, {"index": 600, "duration": 2000, "text": "PHASE rest", "kind": "phase"}
    )
    s.writer.append_json(jr.END, {"next_index": 6000})
    s.writer.close()
    return s, finalise_session(s.folder)


def _tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def validate(root: Path) -> list[dict]:
    if not VALIDATOR.exists():
        pytest.skip("bids-validator-deno is not installed (pip install bids-validator-deno)")
    proc = subprocess.run(
        [str(VALIDATOR), str(root), "--format", "json"], capture_output=True, text=True, timeout=300
    )
    report = json.loads(proc.stdout)
    return [i for i in report["issues"]["issues"] if i["severity"] == "error"]


def test_export_passes_the_bids_validator(store, tmp_path):
    s1, _ = _finished(store, gap=True)
    s2, _ = _finished(store, subject="p02", task="rest", label="20250103T101010", seed=1)
    root = tmp_path / "bids"
    out = export_bids(s1.folder, root)
    export_bids(s2.folder, root)
    assert validate(root) == []

    sidecar = json.loads(out["sidecar"].read_text())
    for key in (
        "TaskName",
        "EMGPlacementScheme",
        "EMGReference",
        "SamplingFrequency",
        "PowerLineFrequency",
        "RecordingType",
        "SoftwareFilters",
    ):
        assert key in sidecar
    assert sidecar["SamplingFrequency"] == 2000.0
    channels = _tsv(out["channels"])
    assert [c["name"] for c in channels] == ["EMG1", "EMG2"]
    assert {c["units"] for c in channels} == {"uV"}
    assert {c["target_muscle"] for c in channels} == {"first dorsal interosseous"}
    events = _tsv(out["events"])
    kinds = [(e["trial_type"], e["sample"]) for e in events]
    assert kinds == [("marker", "300"), ("phase", "600"), ("BAD_GAP", "1800")]
    gap = events[2]
    assert float(gap["onset"]) == pytest.approx(0.9) and float(gap["duration"]) == pytest.approx(
        0.45
    )
    scans = _tsv(out["scans"])
    assert scans[0]["filename"].startswith("emg/sub-p01_ses-20250102T030405_task-grip_emg.bdf")
    assert scans[0]["acq_time"].startswith(s1.meta.created_utc[:10])
    participants = _tsv(root / "participants.tsv")
    assert [p["participant_id"] for p in participants] == ["sub-p01", "sub-p02"]
    assert out["bdf"].read_bytes() == (s1.folder / f"{s1.sid}.bdf").read_bytes()
    assert stat.S_IMODE(out["bdf"].stat().st_mode) == 0o600


def test_export_refuses_to_overwrite_and_unfinished_sessions(store, tmp_path):
    s, _ = _finished(store)
    export_bids(s.folder, tmp_path / "b")
    with pytest.raises(UsageError, match="already exists"):
        export_bids(s.folder, tmp_path / "b")
    export_bids(s.folder, tmp_path / "b", overwrite=True)
    live = FakeSession(store)
    live.blocks(0, 90)
    live.writer.close()
    with pytest.raises(FileFormatError, match="only finished sessions"):
        export_bids(live.folder, tmp_path / "b")


def test_index_lists_filters_and_keeps_results(store):
    index = SessionIndex(store.index_path)
    s1, sum1 = _finished(store, gap=True)
    s2, sum2 = _finished(store, subject="p02", task="rest", seed=3)
    index.upsert(sum1, s1.folder)
    index.upsert(sum2, s2.folder)
    assert stat.S_IMODE(store.index_path.stat().st_mode) == 0o600
    rows = index.find(subject="P01")
    assert [r.id for r in rows] == [s1.sid]
    assert rows[0].lost_samples == 900 and rows[0].gaps == 1 and rows[0].status == "finalised"
    assert [r.id for r in index.find(task="rest")] == [s2.sid]
    assert len(index.find(since="2000-01-01")) == 2 and index.find(until="2000-01-01") == []
    rid = index.add_result(s1.sid, "munix", {"munix": 120.5, "note": "index"}, value=120.5, unit="")
    got = index.results(s1.sid)
    assert got[0].id == rid and got[0].payload["munix"] == 120.5 and got[0].kind == "munix"
    with pytest.raises(StorageError, match="no session"):
        index.add_result("nope", "munix", {})
    # the index is a cache: deleting it loses nothing
    store.index_path.unlink()
    assert index.rebuild(store.sessions_dir) == 2
    assert {r.id for r in index.find()} == {s1.sid, s2.sid}
    shutil.rmtree(s2.folder)
    index.rebuild(store.sessions_dir)
    assert [r.id for r in index.find()] == [s1.sid]


def test_damaged_index_gives_an_actionable_error(store):
    store.ensure()
    store.index_path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="sessions --rebuild"):
        SessionIndex(store.index_path).find()


def test_folders_created_are_private_and_existing_ones_keep_their_mode(store, tmp_path):
    s, _ = _finished(store)
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o755)
    out = export_bids(s.folder, root / "bids" / "v1")
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    for folder in (root / "bids", root / "bids" / "v1", out["bdf"].parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
