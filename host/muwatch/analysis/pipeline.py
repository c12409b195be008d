"""`muwatch analyze`: every method a recording supports, and why the others could not run.

Inputs: a muwatch session (id, folder, or its BDF), any EDF/EDF+/BDF/BDF+ file, or a WFDB
record. Annotations drive the analysis:
- protocol phases: `PHASE <name>` (guided sessions) or a plain phase label (simulator BDFs);
  voluntary phases (MVC, steady/SIP/graded/ramp contractions) give the SIP epochs of MUNIX and
  the fixed-force epochs of the indices; rest phases are baseline;
- stimuli: `TRIGGER rising` (the sensor's trigger input), with the intensity from a
  `STIM <x> mA` annotation at the same sample, or `stimulus <x> mA` (simulator);
- `BAD_*` annotations (lost samples written as zeros, padding): never analysed.

Channels: needle channels (name with NDL/needle, or `kind="needle"`) get detection, sorting,
QEMG per unit, jitter and jiggle (>= 10 kHz); surface channels get CMAP, MUNIX, CMAP-scan,
Poisson and incremental MUNE (when stimuli exist) and the stimulator-free indices.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from muwatch.errors import FileFormatError, MuwatchError, UsageError

STIM_RE = re.compile(r"(?:stim(?:ulus)?)\s*([0-9]+(?:\.[0-9]+)?)\s*mA", re.I)
VOLUNTARY_RE = re.compile(r"\b(mvc|steady|sip|graded|ramp|contraction|contract|target)\b", re.I)
FORCE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*%\s*(?:of\s*)?MVC", re.I)
REST_RE = re.compile(r"\b(rest|baseline|relax)", re.I)
SUPRA_RE = re.compile(r"supra", re.I)
SCAN_RE = re.compile(r"scan", re.I)
BLOCK_RE = re.compile(r"fixed|submaximal block|poisson|statistical", re.I)
NEEDLE_MIN_FS = 8000.0  # channels sampled this fast without a name hint are taken as needle
STA_MIN_UNITS = 5  # units whose S-MUAPs make a mean (DE-STA studies sample 20 or more)
LOW_FORCE_PCT = 5.0  # index epochs: threshold-level to 5 % MVC (surface MUAPs still separable)
MAX_ARRAY_CHANNELS = 8  # channels decomposed together (the sensor's ADS1299)
NEEDLE_RE = re.compile(r"(ndl|needle|cn\d|conc)", re.I)


@dataclass
class Annotation:
    onset_s: float
    duration_s: float
    text: str


@dataclass
class Recording:
    """A recording in µV with its annotations; `valid` is False where samples are missing."""

    fs: float
    channels: list[str]
    data: np.ndarray  # (n_channels, n_samples) µV
    annotations: list[Annotation]
    source: str  # "session", "bdf", "edf", "wfdb", "array"
    path: str = ""
    subject: str | None = None
    muscle: str | None = None
    session_id: str | None = None
    kinds: list[str] = field(default_factory=list)
    valid: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.kinds:
            self.kinds = ["needle" if NEEDLE_RE.search(c) else "surface" for c in self.channels]
        if self.valid is None:
            self.valid = np.ones(self.data.shape[1], dtype=bool)
            for a in self.annotations:
                if a.text.upper().startswith("BAD"):
                    i0 = max(0, int(math.floor(a.onset_s * self.fs)))
                    i1 = min(self.valid.size, int(math.ceil((a.onset_s + a.duration_s) * self.fs)))
                    self.valid[i0:i1] = False

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    def ok(self, a: int, b: int) -> bool:
        """True when [a, b) lies inside the recording and holds no missing sample."""
        assert self.valid is not None
        return 0 <= a < b <= self.n_samples and bool(self.valid[a:b].all())


# --------------------------------------------------------------------------- loading
def _from_edf(path: Path, source: str) -> Recording:
    import edfio

    reader = edfio.read_bdf if source == "bdf" else edfio.read_edf
    try:
        rec = reader(path)
    except Exception as exc:  # edfio raises ValueError and friends on damaged files
        raise FileFormatError(f"{path}: not a readable {source.upper()} file ({exc})") from exc
    sigs = [s for s in rec.signals]
    if not sigs:
        raise FileFormatError(f"{path}: no signal channels")
    rates = {float(s.sampling_frequency) for s in sigs}
    fs = max(rates)
    sigs = [s for s in sigs if float(s.sampling_frequency) == fs]
    n = min(len(s.data) for s in sigs)
    data = np.empty((len(sigs), n))
    for i, s in enumerate(sigs):
        x = np.asarray(s.data[:n], dtype=np.float64)
        unit = (s.physical_dimension or "").strip().lower()
        scale = {"v": 1e6, "mv": 1e3, "uv": 1.0, "µv": 1.0, "nv": 1e-3}.get(unit, 1.0)
        data[i] = x * scale
    ann = [
        Annotation(float(a.onset), float(a.duration or 0.0), str(a.text)) for a in rec.annotations
    ]
    subject = None
    try:
        subject = rec.patient.code if rec.patient.code not in ("X", "") else None
    except Exception:  # a non-standard header field: leave unknown
        subject = None
    return Recording(fs, [s.label for s in sigs], data, ann, source, str(path), subject=subject)


def _from_wfdb(path: Path) -> Recording:
    import wfdb

    base = path.with_suffix("") if path.suffix.lower() == ".hea" else path
    try:
        rec = wfdb.rdrecord(str(base))
    except Exception as exc:  # wfdb raises many types for damaged records
        raise FileFormatError(f"{path}: not a readable WFDB record ({exc})") from exc
    if rec.p_signal is None or not rec.fs:
        raise FileFormatError(f"{path}: WFDB record without physical signals or rate")
    units = rec.units or [""] * rec.p_signal.shape[1]
    data = np.asarray(rec.p_signal, dtype=np.float64).T.copy()
    for i, u in enumerate(units):
        data[i] *= {"v": 1e6, "mv": 1e3, "uv": 1.0, "µv": 1.0}.get((u or "").strip().lower(), 1.0)
    ann: list[Annotation] = []
    try:
        a = wfdb.rdann(str(base), "atr")
        for s, note in zip(a.sample, a.aux_note or [""] * len(a.sample), strict=False):
            if note:
                ann.append(Annotation(float(s) / float(rec.fs), 0.0, str(note)))
    except Exception:  # no annotation file: fine
        pass
    names = [str(n) for n in (rec.sig_name or [f"ch{i}" for i in range(data.shape[0])])]
    return Recording(float(rec.fs), names, data, ann, "wfdb", str(path))


def load_recording(spec: str | Path, *, data_dir: str | Path | None = None) -> Recording:
    """A session (id, id prefix, folder, or its files) or an EDF/BDF/WFDB file, in µV."""
    p = Path(spec).expanduser()
    suffix = p.suffix.lower()
    if p.exists() and p.is_file() and suffix in (".edf", ".bdf"):
        rec = _from_edf(p, suffix[1:])
        folder = p.parent
        if (folder / "session.json").exists():
            _add_session_meta(rec, folder)
        return rec
    if (p.exists() and suffix == ".hea") or (not p.exists() and p.with_suffix(".hea").exists()):
        return _from_wfdb(p)
    if p.exists() and p.is_file():
        raise FileFormatError(
            f"{p}: unknown format {p.suffix or '(none)'}; give a session, an .edf/.bdf file or a "
            "WFDB .hea"
        )
    from muwatch.session.store import SessionStore

    folder = SessionStore(data_dir).resolve(spec)
    bdfs = sorted(folder.glob("*.bdf"))
    if not bdfs:
        raise FileFormatError(
            f"session {folder.name} has no BDF yet (still recording or interrupted: "
            f"`muwatch recover {folder.name}` finishes it)"
        )
    rec = _from_edf(bdfs[0], "bdf")
    _add_session_meta(rec, folder)
    return rec


def _add_session_meta(rec: Recording, folder: Path) -> None:
    import json

    try:
        summary = json.loads((folder / "session.json").read_text())
    except (OSError, ValueError):
        return
    meta = summary.get("meta") or {}
    rec.source = "session"
    rec.session_id = summary.get("session_id") or folder.name
    rec.subject = meta.get("subject") or rec.subject
    rec.muscle = meta.get("muscle")
    rec.path = str(folder)


# --------------------------------------------------------------------------- structure
@dataclass
class Phase:
    name: str
    start: int
    stop: int

    @property
    def voluntary(self) -> bool:
        return bool(VOLUNTARY_RE.search(self.name)) and not REST_RE.search(self.name)

    @property
    def force_pct(self) -> float | None:
        m = FORCE_RE.search(self.name)
        return (
            float(m.group(1))
            if m
            else (
                100.0 if re.search(r"\bmvc\b", self.name, re.I) and "%" not in self.name else None
            )
        )


@dataclass
class Stimulus:
    index: int
    intensity_ma: float | None
    phase: str


def phases_of(rec: Recording) -> list[Phase]:
    out = []
    for a in rec.annotations:
        t = a.text.strip()
        if a.duration_s <= 0 or t.upper().startswith(
            ("BAD", "LEAD", "LINK", "STREAM", "TRIGGER", "MARKER")
        ):
            continue
        if t.lower().startswith("artifact"):
            continue
        name = t[6:].strip() if t.upper().startswith("PHASE ") else t
        a0 = int(round(a.onset_s * rec.fs))
        out.append(Phase(name, a0, min(rec.n_samples, a0 + int(round(a.duration_s * rec.fs)))))
    return sorted(out, key=lambda p: p.start)


def stimuli_of(rec: Recording, phases: list[Phase]) -> list[Stimulus]:
    """Stimuli from trigger edges (intensity from a STIM annotation at the same sample, within
    2 ms) or from simulator stimulus annotations."""
    tol = max(1, int(round(0.002 * rec.fs)))
    labelled: list[tuple[int, float]] = []
    triggers: list[int] = []
    for a in rec.annotations:
        i = int(round(a.onset_s * rec.fs))
        t = a.text.strip()
        if t.upper().startswith("TRIGGER RISING"):
            triggers.append(i)
            continue
        m = STIM_RE.search(t)
        if m and a.duration_s <= 0:
            labelled.append((i, float(m.group(1))))
    out: list[Stimulus] = []
    if triggers:
        lab = sorted(labelled)
        li = np.array([x[0] for x in lab]) if lab else np.zeros(0, int)
        for i in sorted(triggers):
            inten = None
            if li.size:
                j = int(np.argmin(np.abs(li - i)))
                if abs(int(li[j]) - i) <= tol:
                    inten = lab[j][1]
            out.append(Stimulus(i, inten, _phase_at(phases, i)))
    else:
        out = [Stimulus(i, x, _phase_at(phases, i)) for i, x in sorted(labelled)]
    return out


def _phase_at(phases: list[Phase], i: int) -> str:
    for p in phases:
        if p.start <= i < p.stop:
            return p.name
    return ""


# --------------------------------------------------------------------------- analysis
@dataclass
class Analysis:
    """Everything `muwatch analyze` reports (to_dict() is the --json output)."""

    recording: dict[str, Any]
    units: list[dict[str, Any]] = field(default_factory=list)
    qemg_summary: dict[str, Any] | None = None
    methods: dict[str, Any] = field(default_factory=dict)
    indices: dict[str, Any] = field(default_factory=dict)
    not_run: list[dict[str, str]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)  # data for the report, not in JSON

    def skip(self, method: str, reason: str) -> None:
        self.not_run.append({"method": method, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        return {
            "recording": self.recording,
            "units": self.units,
            "qemg_summary": self.qemg_summary,
            "methods": self.methods,
            "indices": self.indices,
            "not_run": self.not_run,
        }


def _epoch_matrix(
    x: np.ndarray, idx: list[int], pre: int, post: int, rec: Recording
) -> tuple[np.ndarray, list[int]]:
    rows, kept = [], []
    for i in idx:
        if rec.ok(i - pre, i + post):
            rows.append(x[i - pre : i + post])
            kept.append(i)
    return (np.array(rows) if rows else np.zeros((0, pre + post))), kept


def analyze(
    rec: Recording,
    *,
    surface_channel: int | None = None,
    needle_channel: int | None = None,
) -> Analysis:
    """Run every method the recording supports; record why the others could not run."""
    if rec.data.ndim != 2 or rec.n_samples < 16:
        raise FileFormatError("the recording holds no samples")
    out = Analysis(
        recording={
            "source": rec.source,
            "path": rec.path,
            "session_id": rec.session_id,
            "subject": rec.subject,
            "muscle": rec.muscle,
            "fs": rec.fs,
            "channels": rec.channels,
            "kinds": rec.kinds,
            "duration_s": rec.n_samples / rec.fs,
            "missing_samples": _bad_samples(rec, "BAD_GAP"),
            "padding_samples": _bad_samples(rec, "BAD_PAD"),
        }
    )
    phases = phases_of(rec)
    stims = stimuli_of(rec, phases)
    out.recording["phases"] = [
        {"name": p.name, "onset_s": p.start / rec.fs, "duration_s": (p.stop - p.start) / rec.fs}
        for p in phases
    ]
    out.recording["n_stimuli"] = len(stims)
    surf = [i for i, k in enumerate(rec.kinds) if k == "surface"]
    ndl = [i for i, k in enumerate(rec.kinds) if k == "needle"]
    if surface_channel is not None:
        _check_channel(rec, surface_channel)
        surf = [surface_channel]
    if needle_channel is not None:
        _check_channel(rec, needle_channel)
        ndl = [needle_channel]
    elif not ndl and surface_channel is None and rec.fs >= NEEDLE_MIN_FS and surf:
        # >= 8 kHz and no channel named as needle: a needle record (surface EMG has no content
        # there); it is analysed as needle and, for whatever the protocol allows, as surface
        ndl = [surf[0]]
        out.recording["needle_channel_assumed"] = rec.channels[surf[0]]
    if ndl:
        _needle(rec, ndl[0], out)
    else:
        for m in ("QEMG (needle units)", "jitter", "jiggle"):
            out.skip(m, "no needle channel (name one with --needle CHANNEL)")
    if surf:
        ch = _pick_surface(rec, surf, stims)
        out.recording["surface_channel"] = rec.channels[ch]
        _surface(rec, ch, phases, stims, out)
    else:
        for m in (
            "CMAP",
            "MUNIX",
            "CMAP-scan MUNE",
            "statistical (Poisson) MUNE",
            "incremental MUNE",
            "surface indices",
        ):
            out.skip(m, "no surface channel")
    return out


def _bad_samples(rec: Recording, prefix: str) -> int:
    """Samples covered by annotations starting with `prefix` (lost samples, record padding)."""
    mask = np.zeros(rec.n_samples, dtype=bool)
    for a in rec.annotations:
        if a.text.upper().startswith(prefix):
            i0 = max(0, int(math.floor(a.onset_s * rec.fs)))
            mask[i0 : min(rec.n_samples, int(math.ceil((a.onset_s + a.duration_s) * rec.fs)))] = (
                True
            )
    return int(mask.sum())


def _check_channel(rec: Recording, ch: int) -> None:
    if not 0 <= ch < len(rec.channels):
        raise UsageError(
            f"channel {ch} out of range: the recording has {len(rec.channels)} channels "
            f"({', '.join(rec.channels)})"
        )


def _pick_surface(rec: Recording, surf: list[int], stims: list[Stimulus]) -> int:
    """The surface channel with the largest evoked response (else the most active one)."""
    if len(surf) == 1:
        return surf[0]
    pre, post = int(0.002 * rec.fs), int(0.03 * rec.fs)
    idx = [s.index for s in stims][-20:] if stims else []
    best, score = surf[0], -1.0
    for c in surf:
        if idx:
            m, _ = _epoch_matrix(rec.data[c], idx, 0, post, rec)
            v = float(np.ptp(np.median(m[:, pre:], axis=0))) if m.size else 0.0
        else:
            v = float(np.std(rec.data[c][rec.valid]))
        if v > score:
            best, score = c, v
    return best


# ----------------------------------------------------------------------------- needle
def _needle(rec: Recording, ch: int, out: Analysis) -> None:
    from muwatch.analysis import detect_spikes, sort_spikes
    from muwatch.analysis.jitter import jiggle, jitter
    from muwatch.analysis.qemg import qemg_units, summarise

    x = np.where(rec.valid, rec.data[ch], 0.0)
    method = "decomposition (template matching with peel-off)"
    try:
        # decomposition resolves superimposed discharges; plain sorting is the fallback
        from muwatch.analysis import decompose

        dec = decompose(x, rec.fs, preset="needle")
        fs = rec.fs
        trains = {
            u: np.unique(np.round(t * fs).astype(np.int64)) for u, t in dec.trains.items() if t.size
        }
        ev_idx = np.round(dec.events["index"]).astype(np.int64)
        ev_unit = dec.events["unit"].astype(np.int64)
    except (MuwatchError, ValueError, RuntimeError):
        method = "detection + template sorting"
        try:
            res = detect_spikes(x, rec.fs, preset="needle")
        except MuwatchError as exc:
            out.skip("QEMG (needle units)", f"detection failed: {exc}")
            return
        srt = sort_spikes(res) if len(res) else None
        if srt is None:
            trains, ev_idx, ev_unit = {}, np.zeros(0, np.int64), np.zeros(0, np.int64)
        else:
            trains = {u: np.sort(srt.index[srt.units == u]) for u in range(srt.n_units)}
            ev_idx = np.asarray(srt.index, dtype=np.int64)
            ev_unit = np.asarray(srt.units, dtype=np.int64)
    if not trains:
        out.skip("QEMG (needle units)", "no motor units sorted on the needle channel")
        out.skip("jitter", "no sorted needle units")
        out.skip("jiggle", "no sorted needle units")
        return
    units = qemg_units(x, rec.fs, trains)
    out.figures["needle"] = {
        "channel": ch,
        "times": ev_idx,
        "labels": ev_unit,
        "units": units,
        "trains": trains,
    }
    can_jitter = rec.fs >= 10_000
    why_jitter = f"needs >= 10 kHz sampling (this recording: {rec.fs:g} Hz)"
    # NMJ measures use discharges free of superimposed potentials (as clinical MUP acceptance):
    # no other detected spike within the unit's MUAP span +- 1 ms
    all_idx = np.sort(ev_idx)
    from scipy import signal as sps

    hp = sps.sosfiltfilt(sps.butter(2, 100.0, "highpass", fs=rec.fs, output="sos"), x)
    band = sps.sosfiltfilt(
        sps.butter(2, [500.0, min(5000.0, 0.45 * rec.fs)], "bandpass", fs=rec.fs, output="sos"), x
    )
    for u in units:
        d = u.to_dict()
        idx = trains[u.unit]
        lo = int(math.floor((u.onset_ms - 1.0) * rec.fs / 1000.0))
        hi = int(math.ceil((u.end_ms + 1.0) * rec.fs / 1000.0))
        clean = []
        for i in idx.tolist():
            j0, j1 = np.searchsorted(all_idx, [i + lo, i + hi])
            if j1 - j0 <= 1 and rec.ok(i + lo, i + hi):
                clean.append(i)
        d["nmj_clean_discharges"] = len(clean)
        if can_jitter and len(clean) >= 20:
            snips, _ = _epoch_matrix(band, clean, -lo, hi, rec)
            try:
                j = jitter(snips, rec.fs)
                d["jitter_us"] = j.mcd_us
                d["blocking_percent"] = j.blocking_percent
            except UsageError as exc:
                d["jitter_us"] = None
                d["jitter_note"] = str(exc)
        if len(clean) >= 3:
            snips, _ = _epoch_matrix(hp, clean, -lo, hi, rec)
            try:
                g = jiggle(snips[:, : min(snips.shape[1], 4096)], rec.fs)
                d["jiggle_cad_percent"] = g.cad_percent
                d["jiggle_ccc"] = g.ccc
            except UsageError as exc:
                d["jiggle_note"] = str(exc)
        out.units.append(d)
    out.qemg_summary = summarise(units)
    out.methods["qemg"] = {
        "method": f"quantitative MUAP analysis (QEMG) of units from {method}",
        "channel": rec.channels[ch],
    }
    if not units:
        out.skip("QEMG (needle units)", "no unit had enough clean discharges for an averaged MUAP")
    if not can_jitter:
        out.skip("jitter", why_jitter)
    elif not any(d.get("jitter_us") is not None for d in out.units):
        out.skip("jitter", "no unit with two separate potentials and >= 20 discharges")


# ---------------------------------------------------------------------------- surface
def _surface(
    rec: Recording, ch: int, phases: list[Phase], stims: list[Stimulus], out: Analysis
) -> None:
    from muwatch.analysis.cmap import cmap_measures, response_sizes

    x = rec.data[ch]
    fs = rec.fs
    cmap = None
    supra_epoch = None
    pre = int(round(0.005 * fs))
    post = int(round(0.045 * fs))
    # --- CMAP: stimuli of a supramaximal block, else the strongest stimuli
    supra = [s.index for s in stims if SUPRA_RE.search(s.phase)]
    if not supra and stims and any(s.intensity_ma is not None for s in stims):
        top = max(s.intensity_ma or 0.0 for s in stims)
        supra = [
            s.index for s in stims if s.intensity_ma is not None and s.intensity_ma >= 0.99 * top
        ]
    if not stims:
        why = "no stimuli in the recording (no trigger input or stimulus annotations): without a stimulator there is no CMAP, hence no MUNE, only indices"
        for m in (
            "CMAP",
            "MUNIX",
            "CMAP-scan MUNE",
            "statistical (Poisson) MUNE",
            "incremental MUNE",
        ):
            out.skip(m, why)
    elif not supra:
        out.skip(
            "CMAP",
            "no supramaximal stimuli marked and no stimulus intensities to find the strongest",
        )
    else:
        ep, kept = _epoch_matrix(x, supra, pre, post, rec)
        if ep.shape[0] == 0:
            out.skip("CMAP", "every supramaximal response overlaps missing samples")
        else:
            supra_epoch = np.median(ep, axis=0) if ep.shape[0] >= 3 else ep.mean(axis=0)
            cmap = cmap_measures(supra_epoch, fs, pre)
            amps = [cmap_measures(e, fs, pre).amplitude_uv for e in ep]
            out.methods["cmap"] = cmap.to_dict() | {
                "n_stimuli": len(kept),
                "amplitude_cv": float(np.std(amps) / np.mean(amps)) if len(amps) > 1 else None,
            }
            out.figures["cmap"] = {"epoch": supra_epoch, "pre": pre, "fs": fs, "measures": cmap}
    # --- scan data: stimuli of a scan phase (else every stimulus of known intensity outside the
    # supramaximal block and the fixed blocks)
    in_block = [s for s in stims if BLOCK_RE.search(s.phase)]
    scan_stims = [s for s in stims if s.intensity_ma is not None and SCAN_RE.search(s.phase)]
    if not scan_stims:
        scan_stims = [
            s
            for s in stims
            if s.intensity_ma is not None
            and not SUPRA_RE.search(s.phase)
            and not BLOCK_RE.search(s.phase)
        ]
    supramaximal_ok: bool | None = None
    noise: float | None = None
    curve: tuple[np.ndarray, np.ndarray] | None = None
    if cmap is not None and supra_epoch is not None and len(scan_stims) >= 60:
        ep, kept = _epoch_matrix(x, [s.index for s in scan_stims], pre, post, rec)
        inten = np.array([s.intensity_ma for s in scan_stims if s.index in set(kept)], dtype=float)
        sizes = response_sizes(ep, cmap, supra_epoch, pre)
        # noise of one size measurement: the same projection on pre-stimulus baseline stretches
        noise = _size_noise(x, [s.index for s in scan_stims], cmap, supra_epoch, pre, rec)
        order = np.argsort(inten)
        top = float(np.median(sizes[order[-max(5, len(order) // 20) :]]))
        supramaximal_ok = abs(top - cmap.amplitude_uv) <= max(0.05 * cmap.amplitude_uv, 3 * noise)
        _scan_methods(inten, sizes, noise, cmap.amplitude_uv, out)
        curve = (inten, sizes)
    elif stims:
        why = "needs >= 60 stimuli of known intensity sweeping the threshold range (a CMAP scan)"
        if cmap is None:
            why = "needs a supramaximal CMAP as the reference response"
        for m in ("CMAP-scan MUNE", "incremental MUNE"):
            out.skip(m, why)
    # --- statistical MUNE: only blocks at fixed submaximal intensities
    if stims:
        _poisson(rec, x, in_block, cmap, supra_epoch, pre, post, noise, curve, out)
    # --- MUNIX: CMAP + SIP epochs from voluntary phases
    vol = [p for p in phases if p.voluntary]
    if cmap is None:
        if stims:
            out.skip("MUNIX", "needs a supramaximal CMAP")
    elif not vol:
        out.skip("MUNIX", "no voluntary contraction phases (SIP epochs) in the recording")
    else:
        _munix(rec, x, vol, supra_epoch, pre, supramaximal_ok, out)
    # --- stimulator-free indices at a fixed low force, over every surface channel
    _indices(rec, ch, phases, vol, cmap, out)


def _rest_noise(
    rec: Recording, phases: list[Phase], chans: list[int]
) -> tuple[np.ndarray | None, str | None]:
    """Per-channel noise floor (detection band) of the session's rest baseline (else any rest
    phase): the reference of the index epoch's detection threshold."""
    from muwatch.analysis.indices import band_noise_uv

    rests = [p for p in phases if REST_RE.search(p.name) and not VOLUNTARY_RE.search(p.name)]
    rests.sort(key=lambda p: (0 if re.search("baseline", p.name, re.I) else 1, p.start))
    skip, need = int(round(0.5 * rec.fs)), int(round(1.0 * rec.fs))
    for p in rests:
        a, b = _valid_span(rec, min(p.start + skip, p.stop), p.stop)
        if b - a >= need:
            return band_noise_uv(rec.data[chans, a:b], rec.fs), p.name
    return None, None


def _indices(
    rec: Recording,
    ch: int,
    phases: list[Phase],
    vol: list[Phase],
    cmap: Any,
    out: Analysis,
) -> None:
    from muwatch.analysis.indices import pool_indices, sta_mune, surface_indices

    chans = [i for i, k in enumerate(rec.kinds) if k == "surface"]
    if ch not in chans:
        chans = [ch]
    chans = chans[:MAX_ARRAY_CHANNELS]
    if ch not in chans:
        chans = [ch] + chans[: MAX_ARRAY_CHANNELS - 1]
    fixed = [
        p
        for p in vol
        if p.force_pct is not None and p.force_pct <= 50 and not re.search("ramp", p.name, re.I)
    ]
    if not fixed and not phases:
        fixed = [Phase("whole recording", 0, rec.n_samples)]
    if not fixed:
        out.skip("surface indices", "no fixed-force contraction phase (e.g. 'steady 3% MVC')")
        return
    low = sorted(
        (p for p in fixed if (p.force_pct or 0.0) <= LOW_FORCE_PCT), key=lambda q: q.force_pct or 0
    )
    note = None
    if not low:
        low = [min(fixed, key=lambda q: q.force_pct or 0.0)]
        note = (
            f"no phase at <= {LOW_FORCE_PCT:g} % MVC: indices from {low[0].name}, where more "
            "units overlap (record a threshold-level or 2-5 % MVC phase)"
        )
    rest, rest_name = _rest_noise(rec, phases, chans)
    parts, figs = [], []
    for p in low:
        a, b = _valid_span(rec, p.start, p.stop)
        try:
            ind = surface_indices(
                rec.data[chans, a:b],
                rec.fs,
                force_label=p.name,
                rest_noise_uv=rest,
                reference_channel=chans.index(ch),
            )
        except UsageError as exc:
            out.skip(f"surface indices at {p.name}", str(exc))
            continue
        parts.append(ind)
        figs.append({"channel": ch, "channels": chans, "span": (a, b), "indices": ind})
    if not parts:
        out.skip("surface indices", "no usable low-force epoch")
        return
    pooled = pool_indices(parts, rec.fs)
    d = pooled.to_dict()
    d["channels"] = [rec.channels[c] for c in chans]
    d["reference_channel_name"] = rec.channels[ch]
    d["rest_phase"] = rest_name
    if note:
        d["notes"] = list(d["notes"]) + [note]
    out.indices["surface"] = d
    out.figures["surface"] = figs[0]
    out.figures["surface_parts"] = figs
    if cmap is not None and pooled.muap_count_index >= STA_MIN_UNITS:
        st = sta_mune(pooled, cmap.peak_to_peak_uv)
        if st is not None:
            out.methods["sta_mune"] = st.to_dict()
    elif cmap is not None:
        out.skip(
            "spike-triggered-averaging MUNE",
            f"{pooled.muap_count_index} surface units accepted at {pooled.force_label}; a mean "
            f"S-MUAP needs >= {STA_MIN_UNITS} (a longer or steadier low-force hold, or more "
            "electrodes over the muscle)",
        )


def _valid_span(rec: Recording, a: int, b: int) -> tuple[int, int]:
    """The longest run of valid samples inside [a, b)."""
    assert rec.valid is not None
    v = rec.valid[a:b]
    if v.all():
        return a, b
    best, cur, start, best_start = 0, 0, 0, 0
    for i, ok in enumerate(v.tolist()):
        if ok:
            if cur == 0:
                start = i
            cur += 1
            if cur > best:
                best, best_start = cur, start
        else:
            cur = 0
    return a + best_start, a + best_start + best


def _size_noise(
    x: np.ndarray, idx: list[int], cmap: Any, ref: np.ndarray, pre: int, rec: Recording
) -> float:
    s, e = cmap.main_phase
    width = e - s
    c = ref[s:e] - np.median(ref[:pre])
    cc = float(np.dot(c, c))
    vals = []
    for i in idx:
        a = i - pre - width - 4
        if a >= 0 and rec.ok(a, i - 2):
            seg = x[a : a + width] - np.median(x[a : i - 2])
            vals.append(float(seg @ c / cc) * cmap.amplitude_uv)
    if len(vals) < 10:
        return 1.0
    v = np.array(vals)
    return float(np.median(np.abs(v - np.median(v))) / 0.6745)


def _scan_methods(
    inten: np.ndarray, sizes: np.ndarray, noise: float, cmap_uv: float, out: Analysis
) -> None:
    from muwatch.analysis.cmapscan import cmap_scan_mune
    from muwatch.analysis.incremental import incremental_mune

    try:
        r = cmap_scan_mune(inten, sizes, noise_uv=noise)
        out.methods["cmap_scan"] = r.to_dict()
        out.figures["cmap_scan"] = r
    except UsageError as exc:
        out.skip("CMAP-scan MUNE", str(exc))
    try:
        inc = incremental_mune(inten, sizes, cmap_uv, noise)
    except UsageError as exc:
        out.skip("incremental MUNE", str(exc))
    else:
        if inc.mune is None:
            out.skip("incremental MUNE", inc.notes[-1])
        else:
            out.methods["incremental"] = inc.to_dict()


def _poisson(
    rec: Recording,
    x: np.ndarray,
    in_block: list[Stimulus],
    cmap: Any,
    supra_epoch: np.ndarray | None,
    pre: int,
    post: int,
    noise: float | None,
    curve: tuple[np.ndarray, np.ndarray] | None,
    out: Analysis,
) -> None:
    """Statistical MUNE from the stimuli of fixed-intensity block phases, one block per phase
    (and per intensity when the phase's stimuli are labelled with several); with the session's
    CMAP scan as the stimulus-response curve when the blocks' intensities are known."""
    from muwatch.analysis.cmap import response_sizes
    from muwatch.analysis.poisson import MIN_BLOCK, MIN_BLOCKS, poisson_mune

    name = "statistical (Poisson) MUNE"
    if cmap is None or supra_epoch is None:
        out.skip(name, "needs a supramaximal CMAP as the reference response")
        return
    groups: dict[tuple[str, float | None], list[Stimulus]] = {}
    for s in in_block:
        key = (s.phase, None if s.intensity_ma is None else round(s.intensity_ma, 2))
        groups.setdefault(key, []).append(s)
    blocks = [g for g in groups.values() if len(g) >= MIN_BLOCK]
    if len(blocks) < MIN_BLOCKS:
        have = (
            f"the recording has {len(blocks)} such block(s)"
            if in_block
            else "the recording has none (scan stimuli are not used: each intensity there is "
            "hit once or twice, and the sweep's drift inflates the variance)"
        )
        out.skip(
            name,
            f"needs >= {MIN_BLOCKS} blocks of >= {MIN_BLOCK} stimuli, each at one fixed "
            f"submaximal intensity (Daube; Lomen-Hoerth & Slawnych 2003); {have}",
        )
        return
    sizes = []
    for g in blocks:
        ep, _ = _epoch_matrix(x, [s.index for s in g], pre, post, rec)
        sizes.append(response_sizes(ep, cmap, supra_epoch, pre) if ep.shape[0] else np.zeros(0))
    if noise is None:
        noise = _size_noise(x, [s.index for g in blocks for s in g], cmap, supra_epoch, pre, rec)
    labels = [
        f"{g[0].phase}" + (f" at {g[0].intensity_ma:g} mA" if g[0].intensity_ma else "")
        for g in blocks
    ]
    keep = [i for i, b in enumerate(sizes) if b.size >= 2]
    inten = [blocks[i][0].intensity_ma for i in keep]
    known = curve is not None and all(v is not None and v > 0 for v in inten)
    try:
        r = poisson_mune(
            [sizes[i] for i in keep],
            cmap.amplitude_uv,
            noise,
            labels=[labels[i] for i in keep],
            intensities_ma=[float(v) for v in inten if v is not None] if known else None,
            curve=curve if known else None,
        )
    except UsageError as exc:
        out.skip(name, str(exc))
        return
    out.methods["poisson"] = r.to_dict()
    if r.mune is None:
        out.skip(name, r.notes[-1])


def _munix(
    rec: Recording,
    x: np.ndarray,
    vol: list[Phase],
    supra_epoch: np.ndarray | None,
    pre: int,
    supramaximal_ok: bool | None,
    out: Analysis,
) -> None:
    from muwatch.analysis.munix import munix, split_epochs

    eps, starts = [], []
    for p in vol:
        # skip the first 0.5 s of a phase: the contraction is still building up
        for t0, e in split_epochs(x, rec.fs, p.start / rec.fs + 0.5, p.stop / rec.fs):
            a = int(round(t0 * rec.fs))
            if rec.ok(a, a + e.size):
                eps.append(e)
                starts.append(t0)
    if len(eps) < 3:
        out.skip("MUNIX", f"only {len(eps)} clean 500 ms SIP epochs in the voluntary phases")
        return
    r = munix(
        supra_epoch,
        eps,
        rec.fs,
        cmap_stim_index=pre,
        epoch_starts_s=starts,
        supramaximal=supramaximal_ok,
    )
    out.methods["munix"] = r.to_dict()
    out.figures["munix"] = r
    if r.munix is None:
        out.skip("MUNIX", "; ".join(r.notes[-1:]) or "no fit")
