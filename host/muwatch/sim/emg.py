"""Voluntary EMG: a force profile drives the pool; MUAP trains are summed on every channel."""

from __future__ import annotations

from typing import Any

import numpy as np

from muwatch.errors import UsageError
from muwatch.sim import force as forces
from muwatch.sim.firing import CONTROL_DT, spike_trains
from muwatch.sim.layout import Layout, make_layout
from muwatch.sim.muap import SUPPORT, peak_of, render_trains
from muwatch.sim.noise import NoiseConfig, add_noise, noise_sd
from muwatch.sim.pool import MotorUnitPool, surface_gain, surface_width_factor
from muwatch.sim.recording import TRUTH_FORMAT, TRUTH_VERSION, Annotation, Recording

FS_MIN, FS_MAX = 1000.0, 20000.0


def check_fs(fs: float) -> float:
    """The sampling rate as float, or a clear error when outside 1-20 kHz."""
    try:
        fs = float(fs)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"sampling rate must be a number, got {fs!r}") from exc
    if not FS_MIN <= fs <= FS_MAX:
        raise UsageError(f"sampling rate must be 1000-20000 Hz, got {fs:g}")
    return fs


def surface_geometry(
    pool: MotorUnitPool, lay: Layout, idx: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per unit and surface channel: amplitude (V), width (s), bipolar delay (s); and each unit's
    centre offset (s) after its discharge."""
    lat = np.array([lay.electrodes[i].lateral_mm for i in idx])
    ied = np.array([lay.electrodes[i].ied_mm for i in idx])
    r = np.hypot(pool.lateral_mm[:, None] - lat[None, :], pool.depth_mm[:, None])
    amps = (pool.volts_per_fibre * pool.fibres)[:, None] * surface_gain(r)
    widths = pool.width_s[:, None] * surface_width_factor(r)
    delay = ied[None, :] * 1e-3 / pool.fibre_cv_m_s[:, None]
    centre = SUPPORT * widths.max(axis=1) if widths.size else np.zeros(pool.n)
    return amps, widths, delay, centre


def unit_truth(pool: MotorUnitPool) -> list[dict[str, Any]]:
    """Per-unit parameters that hold for the whole recording."""
    return [
        {
            "id": int(pool.ids[u]),
            "rte": float(pool.rte[u]),
            "pfr_hz": float(pool.pfr_hz[u]),
            "twitch": float(pool.twitch[u]),
            "fibres": int(pool.fibres[u]),
            "lateral_mm": float(pool.lateral_mm[u]),
            "depth_mm": float(pool.depth_mm[u]),
            "latency_s": float(pool.latency_s[u]),
            "threshold_ma": float(pool.threshold_ma[u]),
            "rel_spread": float(pool.rel_spread[u]),
            "jitter_us": float(pool.jitter_us[u]),
            "block_prob": float(pool.block_prob[u]),
            "adopted": float(pool.adopted[u]),
            "fibre_cv_m_s": float(pool.fibre_cv_m_s[u]),
            "muap_width_s": float(pool.width_s[u]),
            "muap_shape_b": float(pool.shape_b[u]),
            "smup_amplitude_v": float(
                pool.volts_per_fibre[u]
                * pool.fibres[u]
                * surface_gain(np.hypot(pool.lateral_mm[u], pool.depth_mm[u]))
            ),
        }
        for u in range(pool.n)
    ]


def base_truth(
    pool: MotorUnitPool, lay: Layout, fs: float, n: int, scenario: str, seed: int
) -> dict[str, Any]:
    """The truth fields every recording has."""
    return {
        "format": TRUTH_FORMAT,
        "version": TRUTH_VERSION,
        "scenario": scenario,
        "seed": int(seed),
        "fs": fs,
        "n_samples": int(n),
        "duration_s": n / fs,
        "muscle": pool.muscle.name,
        "n_units": pool.n,
        "pool": {
            "rr": pool.rr,
            "isi_cv": pool.isi_cv,
            "mfr_hz": pool.mfr_hz,
            "history": list(pool.history),
        },
        "channels": [
            {
                "name": e.name,
                "kind": e.kind,
                "lateral_mm": e.lateral_mm,
                "depth_mm": e.depth_mm,
                "ied_mm": e.ied_mm,
            }
            for e in lay.electrodes
        ],
        "units": unit_truth(pool),
        "artifacts": [],
        "stimuli": [],
    }


def simulate_emg(
    pool: MotorUnitPool,
    force: forces.ForceProfile | float = 20.0,
    *,
    seconds: float | None = None,
    fs: float = 4000.0,
    layout: str | Layout = "array8",
    noise: NoiseConfig | None = None,
    seed: int = 0,
    scenario: str = "custom",
    templates: bool = True,
) -> Recording:
    """Voluntary EMG of `pool` following `force` (a profile, or a steady % MVC).

    Returns a Recording in volts with per-unit discharge times and per-channel MUAP peaks in its
    truth. `seconds` cuts or extends the profile (holding its last level).
    """
    fs = check_fs(fs)
    prof = (
        forces.steady(float(force), seconds or 10.0)
        if not isinstance(force, forces.ForceProfile)
        else force
    )
    duration = float(seconds) if seconds is not None else prof.duration
    if not 0 < duration <= 3600:
        raise UsageError(f"duration must be in (0, 3600] s, got {duration:g}")
    prof = prof.fitted(duration)
    lay = make_layout(layout, pool.muscle) if isinstance(layout, str) else layout
    noise = NoiseConfig() if noise is None else noise
    n = int(round(duration * fs))
    grid = np.arange(int(np.ceil(duration / CONTROL_DT))) * CONTROL_DT
    exc = pool.excitation_for(prof.at(grid))
    trains = spike_trains(pool, exc, CONTROL_DT, seed=seed)
    data, truth = render_voluntary(
        pool, trains, lay, fs, n, seed=seed, scenario=scenario, templates=templates
    )
    finish(data, truth, noise, fs, seed)
    truth["force"] = {
        "segments": [{"onset_s": a, "duration_s": d, "label": t} for a, d, t in prof.annotations()],
        "e_max": pool.e_max,
    }
    ann = [Annotation(a, d, t) for a, d, t in prof.annotations()]
    ann += [
        Annotation(e["onset_s"], e["duration_s"], f"artifact: {e['kind']}")
        for e in truth["artifacts"]
    ]
    ann.sort(key=lambda a: a.onset)
    return Recording(
        data, fs, lay.names, tuple(e.kind for e in lay.electrodes), ann, truth, scenario, seed
    )


def render_voluntary(
    pool: MotorUnitPool,
    trains: list[np.ndarray],
    lay: Layout,
    fs: float,
    n: int,
    *,
    seed: int,
    scenario: str,
    templates: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Clean signal (C, n) of the given discharge trains and its truth (no noise yet)."""
    data = np.zeros((len(lay.electrodes), n))
    truth = base_truth(pool, lay, fs, n, scenario, seed)
    samples = [np.round(t * fs).astype(np.int64) for t in trains]
    samples = [s[(s >= 0) & (s < n)] for s in samples]
    n_ch = len(lay.electrodes)
    peak_t = np.zeros((pool.n, n_ch))
    peak_v = np.zeros((pool.n, n_ch))
    sidx = lay.of_kind("surface")
    tmpl_out: dict[str, Any] = {"fs": fs, "channels": [lay.names[i] for i in sidx], "units": []}
    if sidx:
        amps, widths, delay, centre = surface_geometry(pool, lay, sidx)
        sig, rendered = render_trains(samples, amps, widths, pool.shape_b, centre, fs, n, delay)
        data[sidx] = sig
        for u in range(pool.n):
            for j, c in enumerate(sidx):
                peak_t[u, c], peak_v[u, c] = peak_of(rendered[u, j], fs)
        if templates:
            tmpl_out["units"] = [np.round(rendered[u] * 1e6, 4) for u in range(pool.n)]
            tmpl_out["unit"] = "uV"
    nidx = lay.of_kind("needle")
    if nidx:
        from muwatch.sim.needle import render_needle

        needle_truth = render_needle(pool, samples, lay, nidx, fs, data, peak_t, peak_v, seed=seed)
        truth["needle"] = needle_truth
    for u, rec in enumerate(truth["units"]):
        rec["firings_s"] = samples[u] / fs
        rec["peak_offset_s"] = peak_t[u]
        rec["peak_amplitude_v"] = peak_v[u]
    if sidx and templates:
        truth["templates"] = tmpl_out
    return data, truth


def finish(
    data: np.ndarray, truth: dict[str, Any], noise: NoiseConfig, fs: float, seed: int
) -> None:
    """Add noise and artifacts in place and record the noise level and per-unit SNR in the truth."""
    peaks = np.array(
        [np.abs(u.get("peak_amplitude_v", np.zeros(data.shape[0]))) for u in truth["units"]]
    )
    peak_ref = None
    if noise.peak_snr_db is not None:
        if peaks.size == 0:
            raise UsageError("peak_snr_db needs a recording with motor units")
        active = np.array([len(u.get("firings_s", [])) > 0 for u in truth["units"]])
        use = peaks[active] if active.any() else peaks
        # per channel: median peak of the units that stand out (peak >= 20 % of the largest)
        peak_ref = np.array(
            [np.median(col[col >= 0.2 * col.max()]) if col.max() > 0 else 0.0 for col in use.T]
        )
    sd = noise_sd(data, noise, peak_ref)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 99])
    truth["artifacts"] = truth.get("artifacts", []) + add_noise(data, fs, noise, rng, sd)
    # Robust SD of each recorded channel (noise plus every other unit's activity): what a
    # MAD-threshold detector sees as its background. SIR = MUAP peak / this.
    centred = data - np.median(data, axis=1, keepdims=True)
    bg = np.median(np.abs(centred), axis=1) / 0.6745
    truth["noise"] = noise.to_dict() | {"sd_v": sd, "background_sd_v": bg}
    for u in truth["units"]:
        if "peak_amplitude_v" in u:
            peak = np.abs(np.asarray(u["peak_amplitude_v"]))
            u["snr"] = peak / np.where(sd > 0, sd, np.inf)
            u["sir"] = peak / np.where(bg > 0, bg, np.inf)
