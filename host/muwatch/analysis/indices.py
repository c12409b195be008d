"""Stimulator-free motor-unit indices from a fixed low-force surface epoch: index, not MUNE.

Without a supramaximal, nerve-evoked CMAP there is no motor unit number estimate. What a wearable
can measure alone, at a fixed low force, are indices to compare with the same person's own
baseline, never with MUNE normal values:
- MUAP count index: motor units the decomposition separates whose discharge trains pass the
  acceptance rules below;
- MUAP rate: decomposed discharges per second (all units; Kallenberg & Hermens, J Neuroeng
  Rehabil 2008;5:36: the sum of the active units' firing rates);
- mean surface-MUAP size: peak-to-peak of each accepted unit's spike-triggered average (STA) of
  the wide-band signal on the reference channel (the S-MUP of spike-triggered-averaging MUNE,
  triggered here by the surface decomposition itself), averaged over units;
- firing statistics per unit (rate, ISI CV).

Detection threshold, referenced to the *rest* noise floor of each channel when the session has a
rest phase. The contraction's own MAD is inflated by the very MUAPs to be detected (at 5 % MVC
~50x the electrode noise), so a threshold taken from it alone sees only the largest few. k x the
floor itself, though, marks MUAP tails and sums as candidates wherever MUAPs overlap, and the
decomposition learns no clean template from those. The decomposition therefore runs with the
threshold at k x the geometric mean of the floor and the epoch's MAD, and at k x the MAD, and
keeps the run with more accepted units (rules below, no truth involved); the threshold kept is
reported (`threshold_uv`, `accepted_per_threshold`). Without a rest phase only the epoch's MAD
is there and the result says so (`noise_reference`).

Several channels of one array (the sensor's ADS1299 records 8) are decomposed together
(`muwatch.analysis.decompose`): a unit's MUAP across the array separates units that a single
channel confuses.

Acceptance of a unit (trains a motor unit can produce; the rules are ours, in the spirit of
DQEMG's MUP-train acceptance, Stashuk 2001): >= `min_discharges` discharges (50: DE-STA
practice for a stable S-MUP average [check]); few intervals shorter than half the median
interval (<= 10 %: two trains merged, or false discharges, add them); regular firing (CV of the
intervals within 0.5-1.5 x the median <= 0.3; steady voluntary firing has 0.1-0.25); a median
rate of 4-50 Hz. A false trigger adds noise, not signal, to an STA and shrinks its size: the
firing rules keep those trains out.

When the session also holds a supramaximal CMAP, CMAP amplitude / mean S-MUAP size is the
spike-triggered-averaging MUNE (it depends on the force of the epoch: tibialis anterior 226 at
threshold vs 91 at 40 % MVC, McNeil et al., Clin Neurophysiol 2005;116:1342), reported
separately as a MUNE.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
from scipy import signal as sps

from muwatch.analysis._fixed import check_fs
from muwatch.analysis.firing import FiringStats, firing_stats
from muwatch.errors import MuwatchError, UsageError

KIND = "index, not MUNE"
MIN_EPOCH_S = 2.0
MIN_DISCHARGES = 50
MAX_SHORT_FRACTION = 0.10
MAX_ISI_CV = 0.30
RATE_RANGE_HZ = (4.0, 50.0)


@dataclass(frozen=True)
class SurfaceUnit:
    """One decomposed unit of the index epoch and whether it counts."""

    unit: int
    n_discharges: int
    rate_hz: float | None
    isi_cv: float | None  # over intervals within 0.5-1.5 x the median
    short_isi_fraction: float  # intervals < 0.5 x the median
    smuap_uv: float | None  # STA peak-to-peak on the reference channel
    smuap_max_uv: float | None  # largest STA peak-to-peak over the channels
    best_channel: int
    accepted: bool
    why_not: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SurfaceIndices:
    muap_count_index: int
    muap_rate_hz: float
    mean_smuap_uv: float | None
    smuap_uv: tuple[float, ...]
    firing: tuple[FiringStats, ...]
    epoch_s: float
    force_label: str
    n_channels: int = 1
    reference_channel: int = 0
    noise_reference: str = "epoch"  # "rest": the session's rest phase; "epoch": its own MAD
    noise_uv: tuple[float, ...] = ()  # per channel, detection band (robust SD)
    threshold_uv: tuple[float, ...] = ()  # per channel, the threshold kept
    accepted_per_threshold: tuple[int, ...] = ()  # accepted units at each threshold tried
    units: tuple[SurfaceUnit, ...] = ()
    method: str = ""
    kind: str = KIND
    notes: tuple[str, ...] = (
        "index, not MUNE: compare only with this person's own baseline at the same force, "
        "never with MUNE normal values",
    )
    phases: tuple[dict[str, Any], ...] = ()  # pooled result: the per-phase indices
    # per decomposed unit: discharge sample indices (in the epoch) and the STA on every channel
    # (channels, samples), for figures and pooling, not JSON
    trains: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    stas: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_JSON}
        d["phases"] = [dict(p) for p in self.phases]
        d["smuap_uv"] = list(self.smuap_uv)
        d["noise_uv"] = list(self.noise_uv)
        d["threshold_uv"] = list(self.threshold_uv)
        d["accepted_per_threshold"] = list(self.accepted_per_threshold)
        d["notes"] = list(self.notes)
        d["firing"] = [f.to_dict() for f in self.firing]
        d["units"] = [u.to_dict() for u in self.units]
        return d


_NOT_JSON = ("trains", "stas")


@dataclass(frozen=True)
class StaMune:
    mune: float
    cmap_uv: float
    mean_smuap_uv: float
    n_units: int
    force_label: str
    method: str = "spike-triggered-averaging MUNE (surface-triggered S-MUAPs, supramaximal CMAP)"
    kind: str = "MUNE"
    notes: tuple[str, ...] = field(
        default=("depends on the force of the epoch (larger units join as force rises)",)
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spike_triggered_average(
    signal_uv: np.ndarray,
    fs: float,
    index: np.ndarray,
    *,
    pre_ms: float = 15.0,
    post_ms: float = 25.0,
) -> np.ndarray | None:
    """Mean of the signal around the trigger samples (those whose window fits)."""
    pre = int(round(pre_ms * fs / 1000.0))
    post = int(round(post_ms * fs / 1000.0))
    idx = np.asarray(index, dtype=np.int64)
    idx = idx[(idx - pre >= 0) & (idx + post < signal_uv.shape[-1])]
    if idx.size == 0:
        return None
    win = idx[:, None] + np.arange(-pre, post + 1)[None, :]
    return signal_uv[..., win].mean(axis=-2)


def band_noise_uv(rest_uv: object, fs: float) -> np.ndarray:
    """Robust SD (median |y| / 0.6745) of each channel of a rest stretch in the `surface`
    detection band (the C core's own filters): the noise floor a MUAP must stand out of."""
    from muwatch.analysis import detect_spikes

    x = _as_channels(rest_uv, "rest stretch")
    fs = check_fs(fs)
    out = []
    for c in range(x.shape[0]):
        y = detect_spikes(x[c], fs, preset="surface", keep_filtered=True).filtered
        assert y is not None
        skip = min(y.size // 4, int(0.05 * fs))  # filter start-up
        out.append(float(np.median(np.abs(y[skip:]))) / 0.6745)
    return np.array(out)


def _as_channels(x: object, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] < 64:
        raise UsageError(f"{what} must be (channels, samples) with at least 64 samples")
    if not np.all(np.isfinite(a)):
        raise UsageError(f"{what} has non-finite samples")
    return a


def _train_rules(idx: np.ndarray, fs: float, min_discharges: int) -> tuple[dict[str, Any], str]:
    """Firing figures of one train and the first acceptance rule it fails ("" when none)."""
    out: dict[str, Any] = {"rate_hz": None, "isi_cv": None, "short_isi_fraction": 0.0}
    if idx.size < 3:
        return out, f"{idx.size} discharges (< {min_discharges})"
    isi = np.diff(idx) / fs
    med = float(np.median(isi))
    out["rate_hz"] = 1.0 / med
    out["short_isi_fraction"] = float(np.mean(isi < 0.5 * med))
    st = firing_stats(idx, fs, min_isi_ms=500.0 * med, max_isi_ms=1500.0 * med)
    out["isi_cv"] = st.isi_cv
    if idx.size < min_discharges:
        return out, f"{idx.size} discharges (< {min_discharges})"
    if not RATE_RANGE_HZ[0] <= out["rate_hz"] <= RATE_RANGE_HZ[1]:
        return (
            out,
            f"median rate {out['rate_hz']:.1f} Hz outside {RATE_RANGE_HZ[0]:g}-{RATE_RANGE_HZ[1]:g} Hz",
        )
    if out["short_isi_fraction"] > MAX_SHORT_FRACTION:
        return out, (
            f"{100 * out['short_isi_fraction']:.0f} % of intervals shorter than half the median "
            "(merged trains or false discharges)"
        )
    if st.isi_cv is None or st.isi_cv > MAX_ISI_CV:
        cv = "undefined" if st.isi_cv is None else f"{st.isi_cv:.2f}"
        return out, f"irregular firing (ISI CV {cv} > {MAX_ISI_CV})"
    return out, ""


def _unit(
    u: int, idx: np.ndarray, wide: np.ndarray, fs: float, min_discharges: int, ref: int
) -> tuple[SurfaceUnit, np.ndarray | None]:
    figs, why = _train_rules(idx, fs, min_discharges)
    sta = spike_triggered_average(wide, fs, idx)
    p2p = None if sta is None else np.ptp(sta, axis=-1)
    size = None if p2p is None else float(p2p[ref])
    if not why and size is None:
        why = "no discharge far enough from the epoch's ends for an average"
    unit = SurfaceUnit(
        unit=int(u),
        n_discharges=int(idx.size),
        rate_hz=figs["rate_hz"],
        isi_cv=figs["isi_cv"],
        short_isi_fraction=figs["short_isi_fraction"],
        smuap_uv=size,
        smuap_max_uv=None if p2p is None else float(p2p.max()),
        best_channel=0 if p2p is None else int(np.argmax(p2p)),
        accepted=not why,
        why_not=why,
    )
    return unit, sta


def _decompose(
    x: np.ndarray, fs: float, k: np.ndarray | None
) -> tuple[dict[int, np.ndarray], list[Any], str]:
    """Unit trains (sample indices) from the array decomposition; single-channel detection and
    sorting when the decomposition cannot run. Detection per channel at k[c] sigmas."""
    from muwatch.analysis import decompose, detect_spikes, sort_spikes

    dets = [
        detect_spikes(
            x[c], fs, preset="surface", keep_filtered=True, k=None if k is None else float(k[c])
        )
        for c in range(x.shape[0])
    ]
    n_ch = x.shape[0]
    try:
        dec = decompose(
            x if n_ch > 1 else x[0], fs, preset="surface", detection=dets if n_ch > 1 else dets[0]
        )
        trains = {
            u: np.unique(np.round(t * fs).astype(np.int64)) for u, t in dec.trains.items() if t.size
        }
        return (
            trains,
            dets,
            f"decomposition over {n_ch} channel{'s' if n_ch > 1 else ''} (template matching with peel-off)",
        )
    except (MuwatchError, ValueError, RuntimeError):
        pass
    best = int(np.argmax([len(d) for d in dets]))
    srt = sort_spikes(dets[best]) if len(dets[best]) else None
    trains = {}
    if srt is not None:
        trains = {u: np.unique(np.sort(srt.index[srt.units == u])) for u in range(srt.n_units)}
    return trains, dets, f"detection + template sorting on channel {best} (decomposition failed)"


def surface_indices(
    epoch_uv: object,
    fs: float,
    *,
    force_label: str = "",
    rest_noise_uv: object = None,
    reference_channel: int = 0,
    min_discharges: int = MIN_DISCHARGES,
    k: float = 5.0,
) -> SurfaceIndices:
    """Indices of one fixed-force surface epoch (µV), one channel (n,) or an array (channels, n).

    rest_noise_uv: per-channel noise floor from a rest phase of the same session (see
    `band_noise_uv`): the detection threshold is k times it; None uses the epoch's own MAD.
    reference_channel: where S-MUAP sizes are measured (the CMAP's channel when there is one).
    """
    x = _as_channels(epoch_uv, "surface epoch")
    fs = check_fs(fs)
    n_ch, n = x.shape
    dur = n / fs
    if dur < MIN_EPOCH_S:
        raise UsageError(
            f"the fixed-force epoch is {dur:.1f} s; indices need at least {MIN_EPOCH_S:g} s"
        )
    if not 0 <= reference_channel < n_ch:
        raise UsageError(f"reference channel {reference_channel} out of range 0..{n_ch - 1}")
    if not 2 <= min_discharges <= 10_000:
        raise UsageError("min_discharges must be within 2-10000")
    if not 0 < k <= 100:
        raise UsageError(f"threshold k={k!r} must be in (0, 100]")
    x = x - np.median(x, axis=1, keepdims=True)
    own = band_noise_uv(x, fs)
    if rest_noise_uv is not None:
        ref = np.asarray(rest_noise_uv, dtype=np.float64).reshape(-1)
        if ref.size != n_ch or not np.all(np.isfinite(ref)) or np.any(ref <= 0):
            raise UsageError(f"rest noise must be {n_ch} positive numbers (one per channel)")
        reference, floor = "rest", ref
        # k x the rest floor itself marks every MUAP but, where MUAPs overlap, also their
        # tails and sums, and the decomposition then learns no clean template (on the
        # simulator it never gave more accepted units than the two below). So the threshold
        # is placed between the floor and the epoch's MAD (their geometric mean) and at the
        # MAD, and the truth-free acceptance rules keep the decomposition with more units
        levels = [np.sqrt(ref * np.maximum(own, ref)), np.maximum(own, ref)]
    else:
        reference, floor = "epoch", own
        levels = [own]
    wide = x
    if fs > 40:
        wide = sps.sosfiltfilt(sps.butter(2, 10.0, "highpass", fs=fs, output="sos"), x, axis=1)
    best: tuple[Any, ...] | None = None
    tried: list[int] = []
    for noise in levels:
        if best is not None and np.allclose(noise, best[0]):
            continue
        # the core's detector scales its streaming MAD: k * noise / own puts it at k * noise
        kk = np.clip(k * noise / np.maximum(own, 1e-12), 1e-3, 100.0)
        trains, _, method = _decompose(x, fs, kk)
        done = [
            _unit(u, trains[u], wide, fs, min_discharges, reference_channel) for u in sorted(trains)
        ]
        units = [d[0] for d in done]
        stas = {d[0].unit: d[1] for d in done if d[1] is not None}
        n_ok = sum(u.accepted for u in units)
        tried.append(n_ok)
        score = (n_ok, sum(u.n_discharges for u in units if u.accepted))
        if best is None or score > best[1]:
            best = (noise, score, trains, units, method, stas)
    assert best is not None
    noise, _, trains, units, method, stas = best
    sizes = [u.smuap_uv for u in units if u.accepted and u.smuap_uv is not None]
    fstats = [firing_stats(trains[u.unit], fs) for u in units if u.accepted]
    n_discharges = sum(u.n_discharges for u in units)
    notes = list(SurfaceIndices.notes)
    if reference == "epoch":
        notes.append(
            "no rest phase: the detection threshold comes from the epoch's own MAD, which the "
            "MUAPs inflate (small units are missed)"
        )
    return SurfaceIndices(
        muap_count_index=len(sizes),
        muap_rate_hz=n_discharges / dur,
        mean_smuap_uv=float(np.mean(sizes)) if sizes else None,
        smuap_uv=tuple(sizes),
        firing=tuple(fstats),
        epoch_s=dur,
        force_label=force_label,
        n_channels=n_ch,
        reference_channel=reference_channel,
        noise_reference=reference,
        noise_uv=tuple(float(v) for v in floor),
        threshold_uv=tuple(float(k * v) for v in noise),
        accepted_per_threshold=tuple(tried),
        units=tuple(units),
        method=method,
        notes=tuple(notes),
        trains=trains,
        stas=stas,
    )


def _same_unit(a: np.ndarray, b: np.ndarray, max_lag: int) -> bool:
    """Two STAs (channels, samples) of one unit: waveform across the array alike (correlation
    >= 0.95 at the best lag: distinct units of one muscle reach 0.8-0.94 on the simulator's
    8-channel array) and energy across the array within a factor 0.75."""
    best = -1.0
    n = a.shape[-1]
    for lag in range(-max_lag, max_lag + 1):
        x = a[:, max(0, lag) : n + min(0, lag)].ravel()
        y = b[:, max(0, -lag) : n + min(0, -lag)].ravel()
        x, y = x - x.mean(), y - y.mean()
        den = float(np.sqrt((x @ x) * (y @ y)))
        if den > 0:
            best = max(best, float(x @ y) / den)
    ra, rb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return best >= 0.95 and min(ra, rb) >= 0.75 * max(ra, rb)


def pool_indices(parts: list[SurfaceIndices], fs: float) -> SurfaceIndices:
    """One index from several low-force epochs of a session (e.g. 2 % and 5 % MVC): the
    accepted units of all of them, a unit seen in two epochs counted once (its STAs across the
    array alike, see `_same_unit`) with its sizes averaged; firing statistics of each unit's
    first epoch. Spike-triggered-averaging MUNE pools S-MUPs from several contraction levels
    the same way (McNeil et al. 2005: an ensemble over threshold to 40 % MVC)."""
    if not parts:
        raise UsageError("nothing to pool")
    if len(parts) == 1:
        return parts[0]
    uniq: list[tuple[np.ndarray, list[float], FiringStats]] = []
    for p in parts:
        fst = iter(p.firing)
        for u in p.units:
            if not u.accepted:
                continue
            f = next(fst)
            sta = p.stas.get(u.unit)
            if sta is None or u.smuap_uv is None:
                continue
            for q in uniq:
                if q[0].shape == sta.shape and _same_unit(q[0], sta, int(round(0.002 * fs))):
                    q[1].append(u.smuap_uv)
                    break
            else:
                uniq.append((sta, [u.smuap_uv], f))
    sizes = [float(np.mean(q[1])) for q in uniq]
    first = parts[0]
    return SurfaceIndices(
        muap_count_index=len(sizes),
        muap_rate_hz=first.muap_rate_hz,
        mean_smuap_uv=float(np.mean(sizes)) if sizes else None,
        smuap_uv=tuple(sizes),
        firing=tuple(q[2] for q in uniq),
        epoch_s=float(sum(p.epoch_s for p in parts)),
        force_label=" + ".join(p.force_label for p in parts),
        n_channels=first.n_channels,
        reference_channel=first.reference_channel,
        noise_reference=first.noise_reference,
        noise_uv=first.noise_uv,
        threshold_uv=first.threshold_uv,
        units=(),
        method=f"units of {len(parts)} low-force epochs pooled, each unit once; " + first.method,
        notes=first.notes
        + (
            f"{sum(p.muap_count_index for p in parts) - len(sizes)} unit(s) seen in two epochs "
            "counted once",
        ),
        phases=tuple(p.to_dict() for p in parts),
    )


def sta_mune(indices: SurfaceIndices, cmap_uv: float) -> StaMune | None:
    """CMAP amplitude / mean S-MUAP size, when both exist (same amplitude measure: p2p)."""
    if indices.mean_smuap_uv is None or indices.mean_smuap_uv <= 0 or not cmap_uv > 0:
        return None
    return StaMune(
        mune=cmap_uv / indices.mean_smuap_uv,
        cmap_uv=cmap_uv,
        mean_smuap_uv=indices.mean_smuap_uv,
        n_units=indices.muap_count_index,
        force_label=indices.force_label,
    )
