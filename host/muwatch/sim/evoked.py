"""Evoked responses: CMAP, stimulus artifact, CMAP scans and the degeneration series.

- Firing probability of unit i at stimulus s (Bostock, Muscle Nerve 2016;53:889):
  P = Φ((s − θᵢ)/(θᵢ·RSᵢ)), independently per unit and stimulus.
- CMAP waveform: every fired unit's surface MUAP placed at its distal motor latency (plus a
  small nerve-conduction jitter), evaluated at exact times, summed: latency dispersion and
  shape differences give phase cancellation.
- Stimulus artifact: a biphasic 0.2 ms pulse followed by an exponential tail (τ ≈ 1 ms),
  largest on the channel nearest the stimulation site.
- CMAP scan (MScanFit's input): a slow sweep of stimulus intensity from supramaximal to
  subthreshold; the response amplitude of each stimulus is the sum of the fired units'
  amplitudes plus Gaussian noise (the additive model of Bostock's simulation), and optionally
  the full waveforms.
- Degeneration series (Bostock 2016 validation): 160 units, amplitudes 25 µV + exponential
  (mean 62.5 µV), thresholds N(26.5, 2) mA, RS 1.65 %, 450 stimuli 20-33 mA, noise SD 5 µV;
  per cycle half the units die and 60 % of their orphaned fibres (amplitude) are adopted by
  survivors: 160 → 80 → 40 → 20 → 10 → 5, 10 seeds → 60 scans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr

from muwatch.errors import UsageError
from muwatch.sim.layout import Layout
from muwatch.sim.muap import render_events
from muwatch.sim.pool import MotorUnitPool, surface_gain, surface_width_factor

NERVE_JITTER_S = 20e-6  # SD of a unit's latency from stimulus to stimulus
ARTIFACT_PULSE_S = 0.2e-3
ARTIFACT_TAU_S = 1.0e-3
ONSET_X = 2.2  # normalised time of a surface MUAP's visible onset before its centre


def fire_probability(
    stim_ma: np.ndarray | float, threshold_ma: np.ndarray, rel_spread: np.ndarray
) -> np.ndarray:
    """Probability that each unit fires at each stimulus: (S, N)."""
    s = np.atleast_1d(np.asarray(stim_ma, dtype=float))[:, None]
    return ndtr((s - threshold_ma[None, :]) / (threshold_ma[None, :] * rel_spread[None, :]))


def supramaximal_ma(pool: MotorUnitPool) -> float:
    """An intensity at which every unit fires with probability > 1 − 1e-9 (×1.2 margin)."""
    z = 6.1  # Φ(6.1) > 1 − 1e-9
    return float(np.max(pool.threshold_ma * (1 + z * pool.rel_spread)) * 1.2)


def cmap_geometry(
    pool: MotorUnitPool, lay: Layout
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per unit and channel: amplitude V (needles: 0), width s, bipolar delay s; centre offsets s."""
    n_ch = len(lay.electrodes)
    amps = np.zeros((pool.n, n_ch))
    widths = np.full((pool.n, n_ch), float(np.max(pool.width_s)) if pool.n else 1e-3)
    delay = np.zeros((pool.n, n_ch))
    for c, e in enumerate(lay.electrodes):
        if e.kind != "surface":
            continue
        r = np.hypot(pool.lateral_mm - e.lateral_mm, pool.depth_mm)
        amps[:, c] = pool.volts_per_fibre * pool.fibres * surface_gain(r)
        widths[:, c] = pool.width_s * surface_width_factor(r)
        delay[:, c] = e.ied_mm * 1e-3 / pool.fibre_cv_m_s
    # Centre of the waveform after the latency, so that the visible onset (≈ 1 % of the
    # negative peak, x ≈ −2.2) falls at the unit's latency.
    centre = ONSET_X * widths.max(axis=1)
    return amps, widths, delay, centre


def render_stimulus(
    out: np.ndarray,
    fs: float,
    pool: MotorUnitPool,
    lay: Layout,
    t_stim: float,
    fired: np.ndarray,
    rng: np.random.Generator,
    geometry: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> None:
    """Add the evoked MUAPs of the fired units (bool mask) for one stimulus at `t_stim`."""
    amps, widths, delay, centre = cmap_geometry(pool, lay) if geometry is None else geometry
    idx = np.flatnonzero(fired)
    if idx.size == 0:
        return
    lat = pool.latency_s[idx] + rng.normal(0.0, NERVE_JITTER_S, idx.size)
    render_events(
        out,
        fs,
        t_stim + lat,
        amps[idx],
        widths[idx],
        kind="surface",
        shape_b=pool.shape_b[idx],
        centre_s=centre[idx],
        delay_s=delay[idx],
    )


def add_artifact(out: np.ndarray, fs: float, t_stim: float, amp_v: np.ndarray) -> None:
    """Add a stimulus artifact at `t_stim` with per-channel size `amp_v` (V), in place."""
    n = out.shape[1]
    i0 = int(np.floor(t_stim * fs))
    length = int(np.ceil((ARTIFACT_PULSE_S + 8 * ARTIFACT_TAU_S) * fs)) + 2
    t = (np.arange(i0, min(n, i0 + length)) / fs) - t_stim
    if t.size == 0:
        return
    pulse = np.where((t >= 0) & (t < ARTIFACT_PULSE_S / 2), 1.0, 0.0) - np.where(
        (t >= ARTIFACT_PULSE_S / 2) & (t < ARTIFACT_PULSE_S), 1.0, 0.0
    )
    tail = np.where(
        t >= ARTIFACT_PULSE_S, 0.15 * np.exp(-(t - ARTIFACT_PULSE_S) / ARTIFACT_TAU_S), 0.0
    )
    out[:, i0 : i0 + t.size] += np.asarray(amp_v, dtype=float)[:, None] * (pulse + tail)[None, :]


def artifact_size(lay: Layout, base_v: float = 20e-3) -> np.ndarray:
    """Artifact amplitude per channel: largest near the stimulation site (lateral −∞ side)."""
    lat = np.array([e.lateral_mm for e in lay.electrodes])
    return base_v * np.exp(-(lat - lat.min()) / 40.0)


def cmap_measures(wave: np.ndarray, fs: float, sum_smup_v: float | None = None) -> dict[str, float]:
    """Clinical measures of a noise-free CMAP waveform (1-D, volts; starts at the stimulus).

    amplitude = baseline-to-negative-peak; peak_to_peak; neg_area = area of the negative phase
    containing the peak (V·s); area = ∫|x| dt and power = ∫x² dt over the whole response (the
    MUNIX definitions, V·s and V²·s); onset = first crossing of 5 % of the negative peak.
    """
    w = np.asarray(wave, dtype=float)
    if not np.any(w):
        return {
            "amplitude_v": 0.0,
            "peak_to_peak_v": 0.0,
            "neg_area_vs": 0.0,
            "area_vs": 0.0,
            "power_v2s": 0.0,
            "onset_s": float("nan"),
            "neg_peak_s": float("nan"),
        }
    j = int(np.argmin(w))
    amp = -float(w[j])
    a, b = j, j
    while a > 0 and w[a - 1] < 0:
        a -= 1
    while b < w.size - 1 and w[b + 1] < 0:
        b += 1
    onset_idx = np.flatnonzero(np.abs(w) >= 0.05 * max(amp, 1e-30))
    m = {
        "amplitude_v": amp,
        "peak_to_peak_v": float(w.max() - w.min()),
        "neg_area_vs": float(-w[a : b + 1].sum() / fs),
        "area_vs": float(np.abs(w).sum() / fs),
        "power_v2s": float((w**2).sum() / fs),
        "onset_s": float(onset_idx[0] / fs) if onset_idx.size else float("nan"),
        "neg_peak_s": j / fs,
    }
    if sum_smup_v:
        m["sum_smup_v"] = float(sum_smup_v)
        m["phase_cancellation"] = float(1.0 - amp / sum_smup_v)
    return m


def cmap_waveform(pool: MotorUnitPool, lay: Layout, fs: float, seconds: float = 0.04) -> np.ndarray:
    """Noise-free supramaximal CMAP (C, n) starting at the stimulus, no nerve jitter, no artifact."""
    out = np.zeros((len(lay.electrodes), int(round(seconds * fs))))
    amps, widths, delay, centre = cmap_geometry(pool, lay)
    render_events(
        out,
        fs,
        pool.latency_s,
        amps,
        widths,
        kind="surface",
        shape_b=pool.shape_b,
        centre_s=centre,
        delay_s=delay,
    )
    return out


def cmap_truth(pool: MotorUnitPool, lay: Layout, fs: float) -> dict[str, Any]:
    """Per-channel CMAP measures of the pool (for the ground truth)."""
    wave = cmap_waveform(pool, lay, fs)
    amps = cmap_geometry(pool, lay)[0]
    chans = []
    for c, e in enumerate(lay.electrodes):
        meas = cmap_measures(wave[c], fs, float(amps[:, c].sum()) if e.kind == "surface" else None)
        chans.append({"channel": e.name} | meas)
    return {"channels": chans, "n_units": pool.n, "supramaximal_ma": supramaximal_ma(pool)}


@dataclass
class CmapScan:
    """A CMAP scan: stimulus intensities (mA, in recording order) and response amplitudes (V)."""

    stim_ma: np.ndarray
    amplitude_v: np.ndarray
    fired: np.ndarray  # (S, N) bool: which units fired at each stimulus
    unit_amplitude_v: np.ndarray
    threshold_ma: np.ndarray
    rel_spread: np.ndarray
    noise_sd_v: float
    seed: int
    label: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        """The true number of motor units."""
        return int(self.unit_amplitude_v.size)

    def truth(self) -> dict[str, Any]:
        """JSON-able truth of this scan."""
        return {
            "label": self.label,
            "seed": self.seed,
            "n_units": self.n_units,
            "noise_sd_v": self.noise_sd_v,
            "cmap_max_v": float(self.unit_amplitude_v.sum()),
            "units": {
                "amplitude_v": self.unit_amplitude_v,
                "threshold_ma": self.threshold_ma,
                "rel_spread": self.rel_spread,
            },
            "stim_ma": self.stim_ma,
            "amplitude_v": self.amplitude_v,
        } | self.meta


def scan_intensities(
    threshold_ma: np.ndarray,
    rel_spread: np.ndarray,
    n_stimuli: int,
    lo_hi: tuple[float, float] | None = None,
) -> np.ndarray:
    """Descending sweep from supramaximal to below every threshold (or over `lo_hi`)."""
    if n_stimuli < 2:
        raise UsageError(f"a scan needs at least 2 stimuli, got {n_stimuli}")
    if lo_hi is None:
        lo = float(np.min(threshold_ma * (1 - 4 * rel_spread))) * 0.97
        hi = float(np.max(threshold_ma * (1 + 4 * rel_spread))) * 1.03
    else:
        lo, hi = map(float, lo_hi)
        if not 0 < lo < hi:
            raise UsageError(f"scan range must satisfy 0 < low < high, got {lo_hi}")
    return np.linspace(hi, lo, n_stimuli)


def scan_from_units(
    amplitude_v: np.ndarray,
    threshold_ma: np.ndarray,
    rel_spread: np.ndarray,
    *,
    n_stimuli: int = 450,
    range_ma: tuple[float, float] | None = None,
    noise_sd_v: float = 5e-6,
    seed: int = 0,
    label: str = "",
) -> CmapScan:
    """A CMAP scan of units given by amplitude, threshold and relative spread (Bostock's model)."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 50, amplitude_v.size])
    stim = scan_intensities(threshold_ma, rel_spread, n_stimuli, range_ma)
    p = fire_probability(stim, threshold_ma, rel_spread)
    fired = rng.uniform(size=p.shape) < p
    amp = fired.astype(float) @ amplitude_v + rng.normal(0.0, noise_sd_v, stim.size)
    return CmapScan(
        stim,
        amp,
        fired,
        amplitude_v.copy(),
        threshold_ma.copy(),
        rel_spread.copy(),
        noise_sd_v,
        seed,
        label,
    )


def simulate_cmap_scan(
    pool: MotorUnitPool,
    *,
    n_stimuli: int = 450,
    range_ma: tuple[float, float] | None = None,
    noise_sd_v: float = 5e-6,
    channel_lateral_mm: float = 0.0,
    seed: int = 0,
) -> CmapScan:
    """CMAP scan of a pool as seen by a belly electrode at `channel_lateral_mm`.

    Unit amplitudes are the pool's S-MUP negative peaks there; use `simulate_session` with a
    Scan phase for the same sweep as a continuous waveform recording.
    """
    amps = pool.surface_amplitude(channel_lateral_mm)
    scan = scan_from_units(
        amps,
        pool.threshold_ma,
        pool.rel_spread,
        n_stimuli=n_stimuli,
        range_ma=range_ma,
        noise_sd_v=noise_sd_v,
        seed=seed,
        label=f"{pool.muscle.name} pool",
    )
    scan.meta["unit_ids"] = pool.ids.copy()
    return scan


def bostock_units(n: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bostock 2016's simulated units: amplitudes 25 µV + Exp(37.5 µV), thresholds N(26.5, 2) mA, RS 1.65 %."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 51])
    amp = 25e-6 + rng.exponential(37.5e-6, n)
    thr = rng.normal(26.5, 2.0, n)
    rs = np.full(n, 0.0165)
    return amp, thr, rs


def degenerate(
    amplitude_v: np.ndarray,
    threshold_ma: np.ndarray,
    rel_spread: np.ndarray,
    rng: np.random.Generator,
    *,
    death: float = 0.5,
    adoption: float = 0.6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One degeneration cycle: a fraction `death` of units die; each dead unit's amplitude × `adoption`
    goes to one survivor chosen at random (collateral reinnervation)."""
    n = amplitude_v.size
    n_dead = int(round(death * n))
    if n_dead >= n:
        raise UsageError("every unit would die")
    dead = np.zeros(n, bool)
    dead[rng.choice(n, n_dead, replace=False)] = True
    alive = np.flatnonzero(~dead)
    amp = amplitude_v.copy()
    heirs = rng.choice(alive, size=n_dead, replace=True)
    np.add.at(amp, heirs, adoption * amplitude_v[dead])
    return amp[alive], threshold_ma[alive], rel_spread[alive]


def degeneration_series(
    seeds: range | list[int] = range(10),
    *,
    n_start: int = 160,
    cycles: int = 5,
    death: float = 0.5,
    adoption: float = 0.6,
    n_stimuli: int = 450,
    range_ma: tuple[float, float] = (20.0, 33.0),
    noise_sd_v: float = 5e-6,
) -> list[CmapScan]:
    """Bostock 2016's validation set: per seed a scan at 160 units, then after each cycle.

    With the defaults: 10 seeds × (160, 80, 40, 20, 10, 5 units) = 60 scans, each with its true N.
    """
    scans: list[CmapScan] = []
    for seed in seeds:
        amp, thr, rs = bostock_units(n_start, seed)
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 52])
        for cycle in range(cycles + 1):
            scan = scan_from_units(
                amp,
                thr,
                rs,
                n_stimuli=n_stimuli,
                range_ma=range_ma,
                noise_sd_v=noise_sd_v,
                seed=seed * 100 + cycle,
                label=f"seed {seed} cycle {cycle}",
            )
            scan.meta.update(series_seed=int(seed), cycle=cycle)
            scans.append(scan)
            if cycle < cycles:
                amp, thr, rs = degenerate(amp, thr, rs, rng, death=death, adoption=adoption)
    return scans
