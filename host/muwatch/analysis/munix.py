"""MUNIX and MUSIX (Nandedkar et al. IEEE TBME 2004;51:2209, Muscle Nerve 2010;42:798; guideline
Muscle Nerve 2018;58:374), computed by the fixed-point C core (mw_area, mw_munix).

MUNIX needs a supramaximal CMAP: without one there is no MUNIX. Inputs are the CMAP epoch and
surface interference-pattern (SIP) epochs of voluntary contraction from slight to maximal force,
cut into 500 ms epochs. Per epoch the ideal case motor unit count
    ICMUC = (CMAP power x SIP area) / (CMAP area x SIP power)
is computed; epochs failing the rules are refused with a reason; log ICMUC is regressed on log SIP
area and read at 20 mV·ms: MUNIX. MUSIX = CMAP amplitude / MUNIX (µV).

Behaviour to keep in mind when reading it (docs/analysis.md): MUNIX follows N when only N changes
but falls when MUAP amplitudes fall at constant N (Li, Rymer & Zhou 2012), and with extensive
overlap it mirrors CMAP area/power (Bostock et al. 2019): it is an index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from muwatch.analysis._fixed import Q15, Q16, as_float_array, check_fs, core, lsb_for, to_codes
from muwatch.analysis.cmap import CmapMeasures, cmap_measures
from muwatch.errors import UsageError

METHOD = "MUNIX (Nandedkar 2004; guideline Nandedkar 2018)"
REFERENCE_AREA_MV_MS = 20.0
EPOCH_S = 0.5
GUIDELINE_MIN_EPOCHS = 20

_REASONS = {
    1: "SIP area below the reference (too little force)",
    2: "solitary spike (one 10 ms block holds too much of the epoch's power)",
    4: "tremor (envelope periodic at 4-12 Hz)",
    8: "empty epoch (no signal)",
    16: "clipped samples",
}


@dataclass(frozen=True)
class MunixRules:
    """Epoch acceptance rules. The guideline asks for >= 20 epochs of 500 ms and excludes epochs
    with tremor or solitary spikes; it does not give numbers for those two, so ours are stated
    here and in docs/analysis.md."""

    min_area_mv_ms: float = REFERENCE_AREA_MV_MS
    max_peak_fraction: float = 0.25  # largest 10 ms block's share of the epoch power
    max_tremor_r: float = 0.5  # envelope autocorrelation at 4-12 Hz lags ...
    min_tremor_depth: float = 0.35  # ... with envelope SD/mean above this
    block_ms: float = 10.0
    tremor_hz: tuple[float, float] = (4.0, 12.0)


@dataclass(frozen=True)
class MunixEpoch:
    start_s: float | None
    sip_area_mv_ms: float
    sip_power_mv2_ms: float
    icmuc: float
    accepted: bool
    reasons: tuple[str, ...]
    peak_fraction: float
    tremor_r: float
    envelope_depth: float


CAVEAT = (
    "MUNIX is an index, not a count of motor units: its absolute value depends on the "
    "definitions (CMAP window, SIP area convention, MUAP shapes; a whole-waveform definition on a "
    "simulated pool gave ~9 x CMAP amplitude in mV where published normals imply ~16 x), and on "
    "MUAP size at a given number of units (Li et al. 2012). muwatch's own simulator gives MUNIX "
    "~0.54 x the true number of units in healthy ADM pools (make bench AREA=mune: "
    "munix_per_unit). Compare it with this person's own baseline first (a change of >= 20 % is "
    "real); the normal range (Cao et al. 2020) is shown for orientation only."
)


@dataclass(frozen=True)
class MunixResult:
    """MUNIX, MUSIX and everything that produced them."""

    munix: float | None
    musix_uv: float | None
    slope: float | None  # d log ICMUC / d log SIP area
    alpha: float | None  # ICMUC = alpha * (SIP area in mV·ms) ** slope
    r2: float | None
    n_epochs: int
    n_accepted: int
    meets_guideline: bool
    cmap: CmapMeasures
    cmap_window: str
    epochs: tuple[MunixEpoch, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    method: str = METHOD
    kind: str = "index (MUNIX; needs a supramaximal CMAP)"
    reference_area_mv_ms: float = REFERENCE_AREA_MV_MS
    caveat: str = CAVEAT

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cmap"] = self.cmap.to_dict()
        d["epochs"] = [asdict(e) for e in self.epochs]
        return d


def split_epochs(
    signal_uv: object, fs: float, start_s: float, stop_s: float, epoch_s: float = EPOCH_S
) -> list[tuple[float, np.ndarray]]:
    """Cut [start_s, stop_s) of a signal into whole epochs of `epoch_s`: (start time, samples)."""
    x = as_float_array(signal_uv, "signal")
    fs = check_fs(fs)
    n = int(round(epoch_s * fs))
    a = max(0, int(round(start_s * fs)))
    b = min(x.size, int(round(stop_s * fs)))
    out = []
    while a + n <= b:
        out.append((a / fs, x[a : a + n]))
        a += n
    return out


def munix(
    cmap_epoch_uv: object,
    sip_epochs_uv: Sequence[object],
    fs: float,
    *,
    cmap_stim_index: int = 0,
    cmap_window: str = "main_phase",
    rules: MunixRules | None = None,
    epoch_starts_s: Sequence[float] | None = None,
    supramaximal: bool | None = None,
) -> MunixResult:
    """MUNIX from one supramaximal CMAP epoch and SIP epochs (equal lengths, 500 ms by the
    guideline), all in µV at `fs`. `cmap_window` is "main_phase" (the negative-peak area and power,
    the clinical definition) or "whole" (onset to end; the one for which ICMUC = N holds exactly
    for identical non-overlapping MUAPs). `supramaximal=False` (or None) is stated in the notes.
    """
    rules = rules or MunixRules()
    fs = check_fs(fs)
    if cmap_window not in ("main_phase", "whole"):
        raise UsageError(f"cmap_window must be 'main_phase' or 'whole', got {cmap_window!r}")
    cm_x = as_float_array(cmap_epoch_uv, "CMAP epoch", min_len=8)
    sips = [as_float_array(e, f"SIP epoch {i}", min_len=8) for i, e in enumerate(sip_epochs_uv)]
    if not sips:
        raise UsageError("MUNIX needs SIP epochs of voluntary contraction; none were given")
    if len({e.size for e in sips}) != 1:
        raise UsageError("all SIP epochs must have the same length (cut them with split_epochs)")
    if epoch_starts_s is not None and len(epoch_starts_s) != len(sips):
        raise UsageError("epoch_starts_s must give one start per SIP epoch")
    if len(sips) > 4096:
        raise UsageError(f"at most 4096 SIP epochs, got {len(sips)}")
    cm = cmap_measures(cm_x, fs, cmap_stim_index)
    a, b = cm.main_phase if cmap_window == "main_phase" else cm.response
    base = float(np.median(cm_x[:cmap_stim_index])) if cmap_stim_index >= 8 else 0.0
    cmap_part = cm_x[a:b] - base
    if cmap_part.size > 65536 or sips[0].size > 65536:
        raise UsageError("CMAP window and SIP epochs must each be at most 65536 samples")
    sips = [e - float(np.mean(e)) for e in sips]  # SIP is AC: remove offset
    lsb = lsb_for([cmap_part, *sips])
    ffi, lib = core()

    def area_block(x: np.ndarray, sub_len: int) -> tuple[Any, Any]:
        codes = to_codes(x, lsb)
        st = ffi.new("mw_area_t *")
        n_sub = x.size // sub_len if sub_len else 0
        buf = ffi.new("uint64_t[]", max(1, n_sub))
        rc = lib.mw_area_init(st, sub_len if n_sub else 0, buf, max(1, n_sub))
        if rc != 0:
            raise UsageError("invalid area block parameters")
        rc = lib.mw_area_process_i32(st, ffi.from_buffer("int32_t[]", codes), codes.size)
        if rc != 0:
            raise UsageError("block too long for the C area accumulator (max 65536 samples)")
        return st, buf

    cm_st, _keep = area_block(cmap_part, 0)
    n_ep = sips[0].size
    sub_len = max(1, int(round(rules.block_ms * fs / 1000.0)))
    # area in codes x samples: mV·ms = codes * lsb(µV) / 1000 * (1000 / fs) = codes * lsb / fs
    ref_codes = REFERENCE_AREA_MV_MS * (n_ep / fs / EPOCH_S) * fs / lsb
    min_codes = rules.min_area_mv_ms * (n_ep / fs / EPOCH_S) * fs / lsb
    cr = ffi.new("mw_munix_rules_t *")
    cr.min_log2_area_q16 = (
        int(math.floor(math.log2(min_codes) * Q16)) if min_codes > 0 else -(2**31 - 1)
    )
    cr.max_peak_frac_q15 = int(round(rules.max_peak_fraction * Q15))
    cr.max_tremor_r_q15 = int(round(rules.max_tremor_r * Q15))
    cr.min_tremor_depth_q15 = int(round(rules.min_tremor_depth * Q15))
    block_s = sub_len / fs
    cr.tremor_lag_min = max(1, int(math.floor(1.0 / rules.tremor_hz[1] / block_s)))
    cr.tremor_lag_max = max(1, int(math.ceil(1.0 / rules.tremor_hz[0] / block_s)))
    eps = ffi.new("mw_munix_epoch_t[]", len(sips))
    epochs: list[MunixEpoch] = []
    to_area = lsb / fs  # codes x samples -> mV·ms
    to_power = (lsb / 1000.0) ** 2 * 1000.0 / fs  # codes^2 x samples -> mV²·ms
    norm = EPOCH_S / (n_ep / fs)  # report SIP area per 500 ms
    for i, e in enumerate(sips):
        st, _buf = area_block(e, sub_len)
        lib.mw_munix_epoch(cm_st, st, cr, ffi.addressof(eps, i))
        ep = eps[i]
        reasons = tuple(txt for bit, txt in _REASONS.items() if ep.reject & bit)
        epochs.append(
            MunixEpoch(
                start_s=None if epoch_starts_s is None else float(epoch_starts_s[i]),
                sip_area_mv_ms=float(st.sum_abs) * to_area * norm,
                sip_power_mv2_ms=float(st.sum_sq) * to_power * norm,
                icmuc=ep.icmuc_q16 / Q16,
                accepted=ep.reject == 0,
                reasons=reasons,
                peak_fraction=ep.peak_frac_q15 / Q15,
                tremor_r=ep.tremor_r_q15 / Q15,
                envelope_depth=ep.depth_q15 / Q15,
            )
        )
    fit = ffi.new("mw_munix_fit_t *")
    rc = lib.mw_munix_fit(eps, len(sips), int(round(math.log2(ref_codes) * Q16)), fit)
    notes: list[str] = []
    if supramaximal is not True:
        notes.append(
            "the CMAP was not confirmed supramaximal (no plateau of responses at rising intensity):"
            " MUNIX is only valid with a supramaximal CMAP"
        )
    n_acc = int(fit.n_used)
    meets = n_acc >= GUIDELINE_MIN_EPOCHS
    if not meets:
        notes.append(
            f"{n_acc} accepted SIP epochs; the guideline asks for at least {GUIDELINE_MIN_EPOCHS}"
        )
    common = dict(
        n_epochs=len(sips),
        n_accepted=n_acc,
        meets_guideline=meets,
        cmap=cm,
        cmap_window=cmap_window,
        epochs=tuple(epochs),
    )
    if rc != 0:
        notes.append(
            "no MUNIX: fewer than 3 accepted SIP epochs, or their SIP areas do not differ "
            "(graded contractions from slight to maximal force are needed)"
        )
        return MunixResult(
            munix=None, musix_uv=None, slope=None, alpha=None, r2=None, notes=tuple(notes), **common
        )  # type: ignore[arg-type]
    areas = [ep.sip_area_mv_ms for ep in epochs if ep.accepted]
    if areas and (min(areas) > 2 * REFERENCE_AREA_MV_MS):
        notes.append(
            f"MUNIX is extrapolated: the smallest accepted SIP area is {min(areas):.0f} mV·ms, "
            f"far above the {REFERENCE_AREA_MV_MS:g} mV·ms reference (add slight contractions)"
        )
    slope = fit.slope_q16 / Q16
    munix_v = fit.munix_q16 / Q16
    # alpha for SIP area in mV·ms (reported per 500 ms): log2 ICMUC = i + s * log2(area_codes)
    log2_alpha = fit.intercept_q16 / Q16 + slope * math.log2(1.0 / (to_area * norm))
    amp_code = int(round(cm.amplitude_uv / lsb))
    musix = lib.mw_munix_musix_q16(amp_code, fit.munix_q16) / Q16 * lsb if fit.munix_q16 else None
    return MunixResult(
        munix=munix_v,
        musix_uv=musix,
        slope=slope,
        alpha=2.0**log2_alpha,
        r2=fit.r2_q15 / Q15,
        notes=tuple(notes),
        **common,  # type: ignore[arg-type]
    )
