"""Journal → finished session: samples placed by index, gaps located, BDF+ written and checked.

Gaps are never spliced. The BDF+ is continuous in time (sample k of the file is sample index k
of the stream): samples that never arrived are written as 0 and covered by an annotation
`BAD_GAP ...` whose onset and duration are exactly the missing samples, so EDFbrowser shows the
hole and MNE excludes it (`BAD_` annotations are rejected by default). The tail that pads the
last data record is annotated `BAD_PAD` the same way. docs/recording.md describes the format.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from muwatch import __version__
from muwatch.errors import FileFormatError, StorageError
from muwatch.session import journal as jr
from muwatch.session.clock import ClockFit, ClockMap
from muwatch.session.meta import DIGITAL_MAX, DIGITAL_MIN, SessionMeta, iso, utc_now
from muwatch.session.store import (
    JOURNAL_NAME,
    SUMMARY_NAME,
    JournalLock,
    read_summary,
    write_json,
)

FLAG_RESENT = 0x08
EDF_MAX_RECORD_BYTES = 61440  # EDF+ recommendation for one data record
# Guard against absurd indices in a damaged journal (2^36 samples = 49 days at 16 kHz).
MAX_INDEX = 1 << 36


@dataclass
class Gap:
    first: int
    count: int
    cause: str

    def as_dict(self, fs: float) -> dict[str, Any]:
        return {
            "first": self.first,
            "count": self.count,
            "onset_s": self.first / fs,
            "duration_s": self.count / fs,
            "cause": self.cause,
        }


@dataclass
class Annotation:
    index: int
    duration: int  # samples; 0 = an instant
    text: str
    kind: str = "note"


@dataclass
class Assembled:
    """A session's samples and everything known about them, ready to write."""

    meta: SessionMeta
    codes: np.ndarray  # int32 (n_samples, n_channels), 0 where not covered
    covered: np.ndarray  # bool (n_samples,)
    gaps: list[Gap]
    annotations: list[Annotation]
    clock: ClockFit | None
    start_utc: dt.datetime
    stats: dict[str, Any]
    ended_cleanly: bool
    journal: dict[str, Any] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.codes.shape[0])

    @property
    def lost_samples(self) -> int:
        return int(self.n_samples - int(self.covered.sum()))


def assemble(scan: jr.JournalScan) -> Assembled:
    """Place every DATA block by index; find the gaps; collect annotations, clock, stats."""
    if scan.meta is None:
        raise FileFormatError(
            f"{scan.path}: the journal has no readable metadata record, so its samples "
            "cannot be interpreted"
        )
    meta = SessionMeta.from_dict(scan.meta, where=str(scan.path))
    fs = float(meta.sample_rate)
    n_ch = meta.n_channels
    end = scan.end or {}
    bad_blocks = 0
    n_total = 0
    for b in scan.blocks:
        if b.n_channels != n_ch or b.first_index < 0 or b.first_index + b.n_samples > MAX_INDEX:
            bad_blocks += 1
            continue
        n_total = max(n_total, b.first_index + b.n_samples)
    next_index = end.get("next_index")
    if isinstance(next_index, int) and 0 <= next_index <= MAX_INDEX:
        n_total = max(n_total, next_index)
    gap_records = [g for g in scan.of_kind(jr.GAP) if _valid_range(g)]
    for g in gap_records:
        n_total = max(n_total, int(g["first"]) + int(g["count"]))

    codes = np.zeros((n_total, n_ch), dtype=np.int32)
    covered = np.zeros(n_total, dtype=bool)
    duplicates = conflicts = resent = 0
    cmap = ClockMap()
    dev0: float | None = None
    for b, block in jr.iter_codes(scan):
        if b.n_channels != n_ch or b.first_index < 0 or b.first_index + b.n_samples > MAX_INDEX:
            continue
        s, e = b.first_index, b.first_index + b.n_samples
        if b.flags & FLAG_RESENT:
            resent += b.n_samples
        else:
            last_us = b.device_time_us + (b.n_samples - 1) * 1e6 / fs
            cmap.add(int(round(last_us)), b.host_time)
            if dev0 is None:
                dev0 = b.device_time_us - b.first_index * 1e6 / fs
        seen = covered[s:e]
        if seen.any():
            same = (codes[s:e][seen] == block[seen]).all(axis=1)
            duplicates += int(same.sum())
            conflicts += int((~same).sum())
            fresh = ~seen
            codes[s:e][fresh] = block[fresh]
            covered[s:e] |= fresh
        else:
            codes[s:e] = block
            covered[s:e] = True
    fit = cmap.fit

    gaps = _find_gaps(covered, gap_records)
    annotations = _annotations(scan, n_total)
    start_utc = _start_time(meta, fit, dev0)
    stats = dict(scan.of_kind(jr.STATS)[-1]) if scan.of_kind(jr.STATS) else {}
    stats.update(end.get("stats", {}) if isinstance(end.get("stats"), dict) else {})
    stats.update(
        {
            "duplicate_samples_in_journal": duplicates,
            "conflicting_samples": conflicts,
            "resent_samples_in_journal": resent,
            "bad_blocks": bad_blocks,
        }
    )
    return Assembled(
        meta=meta,
        codes=codes,
        covered=covered,
        gaps=gaps,
        annotations=annotations,
        clock=fit,
        start_utc=start_utc,
        stats=stats,
        ended_cleanly=scan.end is not None,
        journal={
            "records": len(scan.records) + len(scan.blocks),
            "bad_bytes": scan.bad_bytes,
            "bad_regions": [list(r) for r in scan.bad_regions],
            "ended_cleanly": scan.end is not None,
            "stop_reason": end.get("reason"),
        },
    )


def _valid_range(g: dict[str, Any]) -> bool:
    try:
        first, count = int(g["first"]), int(g["count"])
    except (KeyError, TypeError, ValueError):
        return False
    return 0 <= first and 0 < count and first + count <= MAX_INDEX


def _find_gaps(covered: np.ndarray, gap_records: list[dict[str, Any]]) -> list[Gap]:
    if covered.size == 0:
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([1], covered.view(np.int8), [1]))))
    starts, stops = edges[0::2], edges[1::2]
    gaps = []
    for s, e in zip(starts.tolist(), stops.tolist(), strict=True):
        causes = []
        for g in gap_records:
            gs, ge = int(g["first"]), int(g["first"]) + int(g["count"])
            if gs < e and s < ge:
                cause = str(g.get("cause", "lost"))
                if cause not in causes:
                    causes.append(cause)
        gaps.append(Gap(s, e - s, "; ".join(causes) if causes else "not received"))
    return gaps


def _annotations(scan: jr.JournalScan, n_total: int) -> list[Annotation]:
    """ANNOT records (a later record with the same id replaces an earlier one: a phase is
    written when it begins and again with its duration when it ends) and LINK records."""
    by_id: dict[Any, dict[str, Any]] = {}
    for k, a in enumerate(scan.of_kind(jr.ANNOT)):
        by_id[a.get("id", ("anon", k))] = a
    out = []
    for a in by_id.values():
        try:
            index = max(int(a["index"]), 0)
            duration = int(a.get("duration") or 0)
            text = str(a["text"])
        except (KeyError, TypeError, ValueError):
            continue
        if a.get("open"):  # a phase the recording ended in: it lasts until the end
            duration = max(0, n_total - index)
        out.append(Annotation(index, max(duration, 0), text, str(a.get("kind", "note"))))
    for rec in scan.of_kind(jr.LINK):
        try:
            index = int(rec["index"])
        except (KeyError, TypeError, ValueError):
            continue
        state = str(rec.get("state", "?"))
        reason = str(rec.get("reason") or "")
        out.append(
            Annotation(
                max(index, 0), 0, f"LINK {state}" + (f": {reason}" if reason else ""), "link"
            )
        )
    out.sort(key=lambda a: (a.index, a.text))
    return out


def _start_time(meta: SessionMeta, fit: ClockFit | None, dev0: float | None) -> dt.datetime:
    """Wall-clock time of sample 0: device time mapped through the clock fit."""
    created = meta.created
    if fit is None or dev0 is None:
        return created
    host = fit.to_host(dev0)
    return created + dt.timedelta(seconds=host - meta.host_mono_ref)


# -- BDF+ -----------------------------------------------------------------------------------


def record_layout(fs: float, n_channels: int) -> tuple[float, int]:
    """Data record duration and samples per record: 1 s when it fits EDF's 61440-byte advice."""
    choices = (1.0, 0.5, 0.25, 0.2, 0.125, 0.1, 0.05, 0.04, 0.025, 0.02, 0.01)
    for d in choices:
        spr = fs * d
        if abs(spr - round(spr)) < 1e-9 and round(spr) * n_channels * 3 <= EDF_MAX_RECORD_BYTES:
            return d, int(round(spr))
    for d in choices:
        spr = fs * d
        if abs(spr - round(spr)) < 1e-9 and spr >= 1:
            return d, int(round(spr))
    raise FileFormatError(f"sample rate {fs} Hz cannot be written as whole BDF data records")


_CTRL = re.compile(r"[\x00-\x1f\x7f]")


def _clean(text: str) -> str:
    return _CTRL.sub(" ", text).strip()


def gap_text(g: Gap) -> str:
    return f"BAD_GAP {g.count} samples lost ({g.cause})"


def bdf_annotations(asm: Assembled, n_written: int) -> list[tuple[float, float | None, str]]:
    """(onset s, duration s or None, text) for every annotation the BDF+ carries."""
    fs = float(asm.meta.sample_rate)
    out: list[tuple[float, float | None, str]] = []
    for a in asm.annotations:
        out.append((a.index / fs, a.duration / fs if a.duration else None, _clean(a.text)))
    for g in asm.gaps:
        out.append((g.first / fs, g.count / fs, _clean(gap_text(g))))
    pad = n_written - asm.n_samples
    if pad > 0:
        out.append(
            (asm.n_samples / fs, pad / fs, "BAD_PAD end of recording (fills the last data record)")
        )
    return out


def write_bdf(asm: Assembled, path: Path) -> dict[str, Any]:
    """Write the BDF+ (24-bit, annotations) atomically; returns layout facts for the summary."""
    import edfio

    meta = asm.meta
    fs = float(meta.sample_rate)
    duration, spr = record_layout(fs, meta.n_channels)
    n = asm.n_samples
    n_records = max(1, math.ceil(n / spr))
    n_written = n_records * spr
    lsb = meta.uv_per_code
    phys = (DIGITAL_MIN * lsb, DIGITAL_MAX * lsb)
    lp = 0.262 * fs  # ADS1299 sinc3 decimation filter: -3 dB at 0.262 f_DR (datasheet)
    signals = []
    for i, label in enumerate(meta.channel_labels):
        digital = np.zeros(n_written, dtype=np.int32)
        digital[:n] = asm.codes[:, i]
        signals.append(
            edfio.BdfSignal.from_digital(
                digital,
                fs,
                label=_clean(label)[:16],
                transducer_type="surface EMG electrodes",
                physical_dimension="uV",
                physical_range=phys,
                digital_range=(DIGITAL_MIN, DIGITAL_MAX),
                prefiltering=f"HP:DC LP:{lp:.0f}Hz",
            )
        )
    start = asm.start_utc.astimezone(dt.UTC)
    serial = str(meta.device.get("serial") or "X")
    bdf = edfio.Bdf(
        signals,
        patient=edfio.Patient(code=_edf_field(meta.subject)),
        recording=edfio.Recording(
            startdate=start.date(),
            hospital_administration_code=_edf_field(meta.session_id),
            equipment_code=_edf_field(f"muwatch_{serial}"),
        ),
        starttime=start.time().replace(tzinfo=None),
        data_record_duration=duration,
        annotations=[
            edfio.EdfAnnotation(onset, dur, text)
            for onset, dur, text in bdf_annotations(asm, n_written)
        ],
    )
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            bdf.write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise StorageError(
            f"cannot write {path} ({exc.strerror or exc}); the journal is kept, run "
            f"`muwatch recover {meta.session_id}` once the problem is fixed"
        ) from exc
    return {
        "data_record_duration_s": duration,
        "samples_per_record": spr,
        "padding_samples": n_written - n,
        "physical_range_uV": list(phys),
        "digital_range": [DIGITAL_MIN, DIGITAL_MAX],
    }


def _edf_field(s: str) -> str:
    cleaned = re.sub(r"[^\x21-\x7e]", "_", s)
    return cleaned or "X"


def verify_bdf(path: Path, asm: Assembled) -> None:
    """Read the written file back and compare every sample; raise StorageError on a mismatch."""
    import edfio

    bdf = edfio.read_bdf(path)
    labels = [s.label for s in bdf.signals]
    want = [_clean(label)[:16] for label in asm.meta.channel_labels]
    if labels != want:
        raise StorageError(f"{path}: read back labels {labels}, expected {want}")
    for i, sig in enumerate(bdf.signals):
        got = sig.digital[: asm.n_samples]
        if got.shape[0] != asm.n_samples or not np.array_equal(got, asm.codes[:, i]):
            raise StorageError(f"{path}: channel {sig.label} does not read back identical")


# -- the whole step ------------------------------------------------------------------------


def summary_of(asm: Assembled, status: str, bdf_name: str | None, bdf_info: dict[str, Any]) -> dict:
    meta = asm.meta
    fs = float(meta.sample_rate)
    ann = [
        {
            "onset_s": a.index / fs,
            "duration_s": a.duration / fs,
            "sample": a.index,
            "text": a.text,
            "kind": a.kind,
        }
        for a in asm.annotations
    ]
    clock = asm.clock.as_dict() if asm.clock else None
    return {
        "session_id": meta.session_id,
        "status": status,
        "subject": meta.subject,
        "muscle": meta.muscle,
        "task": meta.task,
        "session_label": meta.session_label,
        "created_utc": meta.created_utc,
        "started_utc": iso(asm.start_utc),
        "duration_s": asm.n_samples / fs,
        "sample_rate": fs,
        "n_channels": meta.n_channels,
        "channel_labels": meta.channel_labels,
        "units": "uV",
        "n_samples": asm.n_samples,
        "received_samples": int(asm.covered.sum()),
        "lost_samples": asm.lost_samples,
        "gaps": [g.as_dict(fs) for g in asm.gaps],
        "backfilled_samples": int(asm.stats.get("backfilled_samples", 0)),
        "clock": clock,
        "drift_ppm": clock["drift_ppm"] if clock else None,
        "jitter_us": clock["jitter_us"] if clock else None,
        "stats": asm.stats,
        "annotations": ann,
        "journal": asm.journal,
        "files": {"bdf": bdf_name} if bdf_name else {},
        "bdf": bdf_info,
        "finalised_utc": iso(utc_now()),
        "software": f"muwatch {__version__}",
        "meta": meta.to_dict(),
    }


def finalise_session(
    folder: Path, *, recovering: bool = False, keep_journal: bool = False
) -> dict[str, Any]:
    """Turn a session folder's journal into BDF+ and session.json; returns the summary.

    The journal is removed only after the BDF+ has been read back sample for sample.
    """
    folder = Path(folder)
    journal = folder / JOURNAL_NAME
    if not journal.exists():
        summary = read_summary(folder)
        if summary is not None and summary.get("status") in ("finalised", "recovered"):
            return summary
        raise FileFormatError(
            f"{folder} is not a muwatch session with a journal (no {JOURNAL_NAME}); nothing to "
            "finalise"
        )
    lock = JournalLock(journal)
    if not lock.acquire():
        raise StorageError(
            f"session {folder.name} is still being recorded by another muwatch process; "
            "stop that recording first"
        )
    try:
        scan = jr.scan_journal(journal)
        asm = assemble(scan)
        status = "recovered" if recovering or not asm.ended_cleanly else "finalised"
        if asm.n_samples == 0:
            summary = summary_of(asm, "empty", None, {})
            write_json(folder / SUMMARY_NAME, summary)
            return summary
        bdf_name = f"{asm.meta.session_id}.bdf"
        info = write_bdf(asm, folder / bdf_name)
        verify_bdf(folder / bdf_name, asm)
        summary = summary_of(asm, status, bdf_name, info)
        write_json(folder / SUMMARY_NAME, summary)
        if not keep_journal:
            os.unlink(journal)
        return summary
    finally:
        lock.release()
