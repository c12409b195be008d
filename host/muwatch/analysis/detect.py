"""MUAP spike detection on recorded EMG, through the fixed-point C core.

    from muwatch.analysis import detect_spikes
    res = detect_spikes(signal, fs=10_000, preset="needle")
    res.events["t"], res.events["amplitude"], res.snippets

The float signal (any unit: V, mV, uV) is scaled into the core's int32 range by a power of
ten-free factor chosen from its robust spread, run through the same chain the sensor runs
(biquads -> streaming median noise -> threshold k*sigma -> alignment), and the results are
scaled back to the input's unit. Integer input (ADC codes) is used as it is (int32 without a
copy) with a power-of-two input gain when its values are small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from scipy import signal as sps

from muwatch.analysis import _design
from muwatch.analysis._corewrap import DATA_MAX, Chain, DetectorParams, as_int32
from muwatch.errors import UsageError

#: target level of the 99.9th percentile of |x - median| after scaling (headroom 64x)
SCALE_TARGET = float(2**24)
MIN_FS, MAX_FS = 500.0, 200_000.0


@dataclass(frozen=True)
class Preset:
    """Detection settings in physical units (ms, Hz, multiples of sigma)."""

    name: str
    band: tuple[float | None, float | None]  # high-pass, low-pass corners (Hz)
    k: float  # threshold in robust sigmas (Quiroga 2004: 4, wave_clus: 5)
    dead_ms: float
    align_ms: float
    pre_ms: float
    post_ms: float
    ceiling: float  # artifact ceiling in sigmas, 0 = off
    polarity: str = "both"
    mains: Literal["auto", 50, 60, None] | float = "auto"
    notch_q: float = 10.0
    neo: bool = False
    noise_memory_s: float = 0.5
    description: str = ""


PRESETS: dict[str, Preset] = {
    "surface": Preset(
        name="surface",
        band=(20.0, 450.0),
        k=5.0,
        dead_ms=8.0,
        align_ms=3.0,
        pre_ms=5.0,
        post_ms=10.0,
        ceiling=40.0,
        description="surface EMG: 20-450 Hz band-pass, mains notch, 5 sigma, 6 ms dead time",
    ),
    # k = 5 (the wave_clus and SpikeInterface default; Quiroga 2004 used 4): in needle EMG the
    # crossings between 4 and 5 sigma are mostly the sum of small, distant units, not the
    # MUAPs a decomposition or an annotator takes (on simulated needle EMG their amplitudes
    # sit at 4.4-5 sigma, those of units with peak SNR >= 5 at 6-10 sigma)
    "needle": Preset(
        name="needle",
        band=(300.0, 3000.0),
        k=5.0,
        dead_ms=1.5,
        align_ms=0.75,
        pre_ms=1.0,
        post_ms=1.5,
        ceiling=0.0,
        description="needle EMG: 300-3000 Hz band-pass (wave_clus), 5 sigma, 1.5 ms dead time",
    ),
}

EVENTS_DTYPE = np.dtype(
    [
        ("index", "<i8"),
        ("t", "<f8"),
        ("core_index", "<i8"),
        ("amplitude", "<f8"),
        ("threshold", "<f8"),
        ("polarity", "i1"),
        ("width", "<i2"),
        ("flags", "u1"),
        ("unit", "<i4"),
    ]
)


@dataclass
class SpikeResult:
    """Detected events of one channel; amplitudes in the unit of the input signal."""

    fs: float
    events: np.ndarray  # EVENTS_DTYPE, one row per spike, time order
    snippets: np.ndarray  # (n, pre + 1 + post) float, the filtered waveform around each peak
    pre: int  # snippet samples before the peak
    noise_sigma: float  # final robust sigma of the filtered signal (input unit)
    scale: float  # core data units per input unit
    preset: Preset
    counters: dict[str, int]
    filtered: np.ndarray | None = None  # filtered signal (input unit) if asked for
    int_snippets: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))
    notch_hz: float | None = None
    signal: np.ndarray | None = None  # the input signal (a reference, not a copy), for sorting

    @property
    def times(self) -> np.ndarray:
        return self.events["t"]

    def __len__(self) -> int:
        return len(self.events)


def get_preset(preset: str | Preset) -> Preset:
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}")
    return PRESETS[preset]


def _check_fs(fs: Any) -> float:
    try:
        f = float(fs)
    except (TypeError, ValueError):
        raise UsageError(f"sampling rate {fs!r} is not a number") from None
    if not math.isfinite(f) or not (MIN_FS <= f <= MAX_FS):
        raise UsageError(f"sampling rate {fs!r} Hz outside {MIN_FS:g}..{MAX_FS:g} Hz")
    return f


def band_for(
    fs: float, band: tuple[float | None, float | None]
) -> tuple[float | None, float | None]:
    """The preset band adapted to fs: low-pass at most 0.45 fs, high-pass below half of it."""
    lo, hi = band
    if hi is not None:
        hi = min(hi, 0.45 * fs)
    if lo is not None and hi is not None and lo > hi / 2:
        lo = hi / 2
    return lo, hi


def detect_mains(x: np.ndarray, fs: float) -> float | None:
    """50 or 60 Hz when that line stands 10x above its spectral neighbourhood, else None."""
    if fs < 200:
        return None
    seg = x[: int(min(len(x), 20 * fs))]
    if len(seg) < fs:
        return None
    f, p = sps.welch(seg - np.median(seg), fs=fs, nperseg=int(fs))
    best, ratio = None, 10.0
    for f0 in (50.0, 60.0):
        line = p[np.argmin(np.abs(f - f0))]
        near = (np.abs(f - f0) > 3) & (np.abs(f - f0) < 15)
        if not near.any():
            continue
        r = line / max(float(np.median(p[near])), 1e-300)
        if r > ratio:
            best, ratio = f0, r
    return best


def build_sections(fs: float, preset: Preset, notch_hz: float | None) -> list[_design.Section]:
    lo, hi = band_for(fs, preset.band)
    sections = _design.bandpass_sections(fs, lo, hi)
    if notch_hz is not None and notch_hz < 0.45 * fs and (lo is None or notch_hz > lo / 2):
        sections.append(_design.notch_section(fs, notch_hz, preset.notch_q))
    _design.check_cascade(sections)
    return sections


def detector_params(fs: float, preset: Preset, sections: list[_design.Section]) -> DetectorParams:
    ms = fs / 1000.0
    dead = max(2, int(round(preset.dead_ms * ms)))
    align = min(dead - 1, max(0, int(round(preset.align_ms * ms))))
    pre = max(1, int(round(preset.pre_ms * ms)))
    post = max(1, int(round(preset.post_ms * ms)))
    post = min(post, dead * 2 - 1, 1023 - pre)  # the core holds at most 2 events per snippet
    blank = max((s.settle_samples() for s in sections), default=0)
    if preset.neo:
        thr, ceil, neo_shift = preset.k, 0.0, 18
    else:
        thr, ceil, neo_shift = preset.k / 0.6745, preset.ceiling / 0.6745, 0
    return DetectorParams(
        thr_mult=thr,
        ceil_mult=ceil,
        dead=dead,
        align=align,
        pre=pre,
        post=post,
        polarity=preset.polarity,
        neo=preset.neo,
        neo_shift=neo_shift,
        blank=blank,
    )


def noise_shift_for(fs: float, memory_s: float) -> int:
    """Step shift of the noise tracker whose memory (1.17 * 2^shift samples) is ~memory_s."""
    return int(min(16, max(8, round(math.log2(max(memory_s * fs / 1.17, 2.0))))))


def to_core_units(x: Any) -> tuple[np.ndarray, float, int]:
    """(int32 samples, scale = core units per input unit, input_shift for the chain)."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise UsageError(f"signal must be one channel (1-D), got shape {a.shape}")
    if a.size == 0:
        raise UsageError("signal is empty")
    if a.dtype.kind in "iu":
        xi = as_int32(a)
        spread = float(np.percentile(np.abs(xi - np.median(xi)), 99.9)) if xi.size else 0.0
        shift = 0
        if spread > 0:
            shift = int(min(16, max(0, math.floor(math.log2(SCALE_TARGET / spread)))))
        return xi, float(2**shift), shift
    if a.dtype.kind != "f":
        raise UsageError(f"signal must be float or integer samples, got {a.dtype}")
    if not np.all(np.isfinite(a)):
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise UsageError(f"signal has {bad} non-finite samples (NaN/inf); fill or cut them first")
    med = float(np.median(a))
    spread = float(np.percentile(np.abs(a - med), 99.9))
    scale = SCALE_TARGET / spread if spread > 0 else 1.0
    xi = np.clip(np.round((a - med) * scale), -DATA_MAX, DATA_MAX).astype(np.int32)
    return xi, scale, 0


def detect_spikes(
    signal: Any,
    fs: float,
    preset: str | Preset = "needle",
    *,
    mains: Literal["preset", "auto", 50, 60] | float | None = "preset",
    k: float | None = None,
    polarity: str | None = None,
    neo: bool | None = None,
    keep_filtered: bool = False,
    refine: bool = False,
    zero_phase: bool = True,
    block: int = 1 << 16,
) -> SpikeResult:
    """Detect MUAP spikes in one channel with a preset (`surface` or `needle`).

    Overrides: mains ("auto" finds a 50/60 Hz line, 50, 60, or None for no notch), k (threshold
    in sigmas), polarity ("pos", "neg", "both"), neo (nonlinear-energy-operator pre-emphasis).

    zero_phase (default): the core's filters run forward, then backward over the result (the
    fixed-point counterpart of filtfilt, as offline spike sorters filter), so an event lands on
    the MUAP's own extremum: a causal band-pass advances the phases of a triphasic MUAP and can
    make the phase after the main spike the largest (0.2-0.5 ms later). zero_phase=False gives
    the causal view the sensor computes while streaming.
    """
    fs = _check_fs(fs)
    p = get_preset(preset)
    if k is not None:
        if not (isinstance(k, int | float) and 0 < k <= 100):
            raise UsageError(f"threshold k={k!r} must be a number in (0, 100]")
        p = replace(p, k=float(k))
    if polarity is not None:
        p = replace(p, polarity=polarity)
    if neo is not None:
        p = replace(p, neo=bool(neo), k=p.k if k is not None or not neo else 40.0)
    if not isinstance(block, int) or block < 1:
        raise UsageError(f"block must be a positive number of samples, got {block!r}")
    xi, scale, input_shift = to_core_units(signal)
    want_mains = p.mains if mains == "preset" else mains
    if want_mains == "auto":
        notch = detect_mains(xi.astype(np.float64), fs)
    elif want_mains in (None, "none", 0):
        notch = None
    else:
        try:
            notch = float(want_mains)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise UsageError(f"mains {want_mains!r}: use 'auto', 50, 60 or None") from None
        if not (10 <= notch < 0.45 * fs):
            raise UsageError(f"mains frequency {notch:g} Hz outside 10 Hz..0.45 fs")
    sections = build_sections(fs, p, notch)
    det = detector_params(fs, p, sections)
    nshift = noise_shift_for(fs, p.noise_memory_s)
    chain = Chain(sections, det, noise_shift=nshift, input_shift=input_shift)
    n_prime = min(xi.size, 1 << (nshift + 2))
    evs, sns, outs = [], [], []
    if zero_phase:
        zp = _zero_phase(xi, sections, det, nshift, input_shift, block)
        chain.learn_noise(zp[:n_prime])
        for start in range(0, xi.size, block):
            ev, sn = chain.detect(zp[start : start + block])
            evs.append(ev)
            sns.append(sn)
        outs.append(zp)
    else:
        chain.prime(xi[:n_prime])
        for start in range(0, xi.size, block):
            ev, sn, out = chain.process(xi[start : start + block])
            evs.append(ev)
            sns.append(sn)
            outs.append(out)
    ev, sn = chain.flush()
    evs.append(ev)
    sns.append(sn)
    raw = np.concatenate(evs)
    isn = np.concatenate(sns).reshape(-1, chain.snip_len)
    unit_scale = 1.0 / scale
    events = np.zeros(raw.size, EVENTS_DTYPE)
    events["core_index"] = raw["index"]
    events["index"] = raw["index"]
    if refine and raw.size:
        events["index"] = refine_peaks(signal, fs, raw["index"], det.align, p)
    events["t"] = events["index"] / fs
    if not refine and raw.size and isn.shape[1] >= 3 and 1 <= det.pre < isn.shape[1] - 1:
        events["t"] += subsample_offset(isn[:, det.pre - 1 : det.pre + 2]) / fs
    events["amplitude"] = raw["amplitude"] * unit_scale
    events["polarity"] = raw["polarity"]
    events["width"] = raw["width"]
    events["flags"] = raw["flags"]
    events["unit"] = -1
    filtered = np.concatenate(outs) if outs else np.zeros(0, np.int32)
    if p.neo:
        events["threshold"] = np.nan  # a threshold on psi, not in signal units
        sigma = float(np.median(np.abs(filtered))) / 0.6745 * unit_scale if filtered.size else 0.0
    else:
        events["threshold"] = raw["threshold"] * unit_scale
        sigma = chain.noise_median / 0.6745 * unit_scale
    return SpikeResult(
        fs=fs,
        events=events,
        snippets=isn * unit_scale,
        pre=det.pre,
        noise_sigma=sigma,
        scale=1.0 / unit_scale,
        preset=p,
        counters=chain.counters,
        filtered=filtered * unit_scale if keep_filtered else None,
        int_snippets=isn,
        notch_hz=notch,
        signal=np.asarray(signal),
    )


def subsample_offset(y3: np.ndarray) -> np.ndarray:
    """Vertex of the parabola through (-1, y0), (0, y1), (1, y2) per row, in samples (|.| <= 1/2).

    The extremum between samples: at 4 kHz a sample is 0.25 ms, so whole-sample peaks alone
    spend much of a 0.4 ms matching tolerance (the ground truth is parabolic-refined too)."""
    y = np.asarray(y3, dtype=np.float64)
    den = y[:, 0] - 2.0 * y[:, 1] + y[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(den != 0.0, 0.5 * (y[:, 0] - y[:, 2]) / den, 0.0)
    return np.clip(np.nan_to_num(d), -0.5, 0.5)


def recorded_band(result: SpikeResult) -> np.ndarray:
    """The channel as recorded, only offset and drift removed (zero-phase 2nd-order high-pass at
    a tenth of the preset's corner, at least 2 Hz): where a MUAP's clinical peak is read, as
    the detection band changes which phase is the largest. Float, host only."""
    x = np.asarray(result.signal, dtype=np.float64)
    fs = result.fs
    hp = max((result.preset.band[0] or 0.0) / 10.0, 2.0)
    y = x - np.median(x)
    if hp < 0.2 * fs and x.size > 64:
        y = sps.sosfiltfilt(sps.butter(2, hp, "highpass", fs=fs, output="sos"), y)
    return y


def _zero_phase(
    xi: np.ndarray,
    sections: list[_design.Section],
    det: DetectorParams,
    nshift: int,
    input_shift: int,
    block: int,
) -> np.ndarray:
    """The core's cascade forward (settled on the first sample), then backward over the
    reversed result from rest: magnitude response squared, phase zero."""
    fwd = Chain(sections, det, noise_shift=nshift, input_shift=input_shift, snippets=False)
    fwd.settle(int(xi[0]))
    y = np.concatenate([fwd.filter(xi[s : s + block]) for s in range(0, xi.size, block)])
    rev = np.ascontiguousarray(y[::-1])
    back = Chain(sections, det, noise_shift=nshift, snippets=False)
    z = np.concatenate([back.filter(rev[s : s + block]) for s in range(0, rev.size, block)])
    return np.ascontiguousarray(z[::-1])


def refine_peaks(
    signal: Any, fs: float, index: np.ndarray, window: int, preset: Preset
) -> np.ndarray:
    """Index of the largest |x| of the zero-phase wide-band signal within +-window of each event.

    Wide band: a zero-phase 2nd-order high-pass at a third of the preset's corner (drift and
    mains out, MUAP phases kept) and a low-pass at 0.45 fs; float, host only.
    """
    x = np.asarray(signal, dtype=np.float64)
    lo = preset.band[0]
    hp = max(lo / 3.0, 1.0) if lo else None
    sos = []
    if hp is not None and hp < 0.2 * fs:
        sos.append(sps.butter(2, hp, "highpass", fs=fs, output="sos"))
    sos.append(sps.butter(2, 0.45 * fs, "lowpass", fs=fs, output="sos"))
    ref = sps.sosfiltfilt(np.vstack(sos), x - np.median(x))
    w = max(1, int(window))
    offs = np.arange(-w, w + 1)
    idx = np.clip(index[:, None] + offs[None, :], 0, x.size - 1)
    vals = np.abs(ref[idx])
    if preset.polarity == "pos":
        vals = ref[idx]
    elif preset.polarity == "neg":
        vals = -ref[idx]
    return idx[np.arange(len(index)), np.argmax(vals, axis=1)].astype(np.int64)
