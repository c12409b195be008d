"""Needle EMG: single fibres near the tip, with NMJ jitter and impulse blocking per discharge.

Each unit's fibres are scattered over a circular territory (radius from its original fibre
count at a fixed density of fibres per unit area; fibres adopted by reinnervation raise the
density inside the territory, as single-fibre EMG's fibre density shows). Fibres within `PICKUP_MM` of the needle are rendered
one by one as single-fibre potentials (SFAPs): amplitude and width depend on the radial distance
(steep fall-off: A(r) = A0·(r0/(r + r0))^1.5; width grows with r), latency = the unit's mean
plus a fixed per-fibre offset (end-plate scatter; adopted fibres of reinnervated units add a
late, slowly conducted component) plus, per discharge, Gaussian NMJ jitter of SD
σ = J/(√2·1.128) so that the MCD of inter-potential intervals of a fibre pair is J (Ekstedt
1974); each fibre is blocked on a discharge with the unit's blocking probability (jiggle).
The rest of every unit (far fibres) adds a broad, small far-field potential.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from muwatch.sim.layout import Layout
from muwatch.sim.muap import SUPPORT, peak_of, render_events, render_trains, sfap_shape
from muwatch.sim.pool import MotorUnitPool, surface_gain, surface_width_factor

PICKUP_MM = 1.0  # fibres beyond this distance only add to the far field
FIBRES_PER_MM2 = 20.0  # fibres of one unit per mm² of its territory
SFAP_A0_V = 3.0e-3  # SFAP amplitude scale (at r = 0)
SFAP_R0_MM = 0.05
SFAP_MIN_R_MM = 0.02  # a fibre cannot touch the recording surface
SFAP_W0_S = 0.08e-3  # SFAP Hermite-Rodriguez scale at r = 0
SFAP_WR_S_PER_MM = 0.25e-3
FAR_FIELD_SCALE = 0.5  # a concentric needle records the far field weakly
MCD_PER_SD = 2.0 / np.sqrt(np.pi)  # E|X1 - X2| / SD for normal X: 1.128


def sfap_amplitude(r_mm: np.ndarray) -> np.ndarray:
    """Negative-peak SFAP amplitude (V) at radial distance r."""
    r = np.maximum(np.asarray(r_mm, dtype=float), SFAP_MIN_R_MM)
    return SFAP_A0_V * (SFAP_R0_MM / (r + SFAP_R0_MM)) ** 1.5


def sfap_width(r_mm: np.ndarray) -> np.ndarray:
    """SFAP scale λ (s) at radial distance r."""
    return SFAP_W0_S + SFAP_WR_S_PER_MM * np.maximum(np.asarray(r_mm, dtype=float), SFAP_MIN_R_MM)


def fibre_sd_s(jitter_us: np.ndarray | float) -> np.ndarray:
    """Per-fibre latency SD giving a pair MCD of `jitter_us` (two independent NMJs)."""
    return np.asarray(jitter_us, dtype=float) * 1e-6 / (np.sqrt(2.0) * MCD_PER_SD)


def near_fibres(
    pool: MotorUnitPool, lateral_mm: float, depth_mm: float, rng: np.random.Generator
) -> list[dict[str, np.ndarray]]:
    """For each unit: distances, fixed latency offsets and adopted flags of fibres near the needle."""
    out = []
    for u in range(pool.n):
        # Territory from the unit's own fibres; adopted fibres raise its fibre density
        # (collateral sprouts innervate fibres inside the territory: fibre-type grouping).
        radius = np.sqrt(pool.fibres[u] * (1.0 - pool.adopted[u]) / (np.pi * FIBRES_PER_MM2))
        density = pool.fibres[u] / (np.pi * radius**2)
        d = np.hypot(pool.lateral_mm[u] - lateral_mm, pool.depth_mm[u] - depth_mm)
        if d > radius + PICKUP_MM:
            out.append({"r_mm": np.empty(0), "offset_s": np.empty(0), "adopted": np.empty(0, bool)})
            continue
        cand = rng.poisson(density * np.pi * PICKUP_MM**2)
        rr = PICKUP_MM * np.sqrt(rng.uniform(0, 1, cand))
        th = rng.uniform(0, 2 * np.pi, cand)
        x, y = rr * np.cos(th), rr * np.sin(th)
        inside = (
            np.hypot(x + (lateral_mm - pool.lateral_mm[u]), y + (depth_mm - pool.depth_mm[u]))
            <= radius
        )
        r = np.maximum(rr[inside], SFAP_MIN_R_MM)
        adopted = rng.uniform(0, 1, r.size) < pool.adopted[u]
        offset = rng.normal(0.0, pool.fibre_spread_s[u], r.size)
        offset = offset + np.where(adopted, rng.exponential(1.0e-3, r.size), 0.0)
        out.append({"r_mm": r, "offset_s": offset, "adopted": adopted})
    return out


def realised_jitter_us(latency_s: np.ndarray) -> float | None:
    """MCD (µs) of inter-potential intervals of adjacent fibre pairs, from true latencies."""
    lat = np.asarray(latency_s, dtype=float)
    if lat.ndim != 2 or lat.shape[0] < 2 or lat.shape[1] < 2:
        return None
    d = np.abs(np.diff(np.diff(lat, axis=1), axis=0))
    d = d[np.isfinite(d)]
    return float(d.mean() * 1e6) if d.size else None


def jiggle_truth(
    amp: np.ndarray,
    wid: np.ndarray,
    lat: np.ndarray,
    blocked: np.ndarray,
    fs: float,
    max_pairs: int = 200,
) -> dict[str, float] | None:
    """Jiggle of the noise-free near-field MUAP (Stålberg & Sonoo 1994), consecutive discharges.

    CAD (%) = 100 · mean over pairs of Σ|x_{k+1} − x_k| / Σ(|x_k| + |x_{k+1}|)/2;
    CCC = mean Pearson correlation of consecutive MUAPs (zero lag: the truth is aligned).
    """
    k = lat.shape[0]
    if k < 2 or amp.size == 0:
        return None
    k = min(k, max_pairs + 1)
    lo = float(np.nanmin(lat[:k]) - SUPPORT * wid.max())
    hi = float(np.nanmax(lat[:k]) + SUPPORT * wid.max())
    t = lo + np.arange(int(np.ceil((hi - lo) * fs)) + 1) / fs
    x = (t[None, None, :] - lat[:k, :, None]) / wid[None, :, None]
    wave = np.where(
        blocked[:k, :, None] | (np.abs(x) > SUPPORT), 0.0, amp[None, :, None] * sfap_shape(x)
    ).sum(axis=1)
    a, b = wave[:-1], wave[1:]
    denom = (np.abs(a).sum(axis=1) + np.abs(b).sum(axis=1)) / 2
    ok = denom > 0
    if not ok.any():
        return None
    cad = 100.0 * float(np.mean(np.abs(b - a).sum(axis=1)[ok] / denom[ok]))
    ac = a - a.mean(axis=1, keepdims=True)
    bc = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((ac**2).sum(axis=1) * (bc**2).sum(axis=1))
    good = den > 0
    ccc = float(np.mean((ac * bc).sum(axis=1)[good] / den[good])) if good.any() else float("nan")
    return {"cad_pct": cad, "ccc": ccc, "pairs": int(k - 1)}


def render_needle(
    pool: MotorUnitPool,
    samples: list[np.ndarray],
    lay: Layout,
    nidx: list[int],
    fs: float,
    data: np.ndarray,
    peak_t: np.ndarray,
    peak_v: np.ndarray,
    *,
    seed: int,
) -> dict[str, Any]:
    """Add needle channels to `data` in place; fill their MUAP peaks; return the needle truth."""
    n = data.shape[1]
    channels = []
    for c in nidx:
        el = lay.electrodes[c]
        rng = np.random.default_rng([int(pool.seed) & 0xFFFFFFFF, int(seed) & 0xFFFFFFFF, 30, c])
        fibres = near_fibres(pool, el.lateral_mm, el.depth_mm, rng)
        d = np.hypot(pool.lateral_mm - el.lateral_mm, pool.depth_mm - el.depth_mm)
        far_amp = FAR_FIELD_SCALE * pool.volts_per_fibre * pool.fibres * surface_gain(d)
        far_w = pool.width_s * surface_width_factor(d) * 0.6
        centre = SUPPORT * far_w + 0.5e-3
        sig, far_tmpl = render_trains(
            samples, far_amp[:, None], far_w[:, None], pool.shape_b, centre, fs, n
        )
        data[c] += sig[0]
        mean_lat = centre  # fibres fire around the far-field centre
        sd = fibre_sd_s(pool.jitter_us)
        units = []
        ev_t, ev_a, ev_w = [], [], []
        for u in range(pool.n):
            f = fibres[u]
            t_dis = samples[u] / fs
            k, m = t_dis.size, f["r_mm"].size
            rec: dict[str, Any] = {"id": int(pool.ids[u]), "n_fibres": m}
            # mean MUAP (no jitter, no block) for the truth's peak offset and amplitude
            length = max(far_tmpl.shape[2], int(np.ceil((mean_lat[u] + 6e-3) * fs)))
            mean = np.zeros((1, length))
            mean[0, : far_tmpl.shape[2]] = far_tmpl[u, 0]
            if m:
                amp = sfap_amplitude(f["r_mm"]) * pool.sfap_scale[u]
                wid = sfap_width(f["r_mm"])
                render_events(
                    mean, fs, mean_lat[u] + f["offset_s"], amp[:, None], wid[:, None], kind="sfap"
                )
                rec.update(
                    r_mm=f["r_mm"],
                    offset_s=f["offset_s"],
                    adopted=f["adopted"],
                    amplitude_v=amp,
                    width_s=wid,
                    fibre_sd_s=float(sd[u]),
                    block_prob=float(pool.block_prob[u]),
                )
                if k:
                    eps = rng.standard_normal((k, m)) * sd[u]
                    lat = mean_lat[u] + f["offset_s"][None, :] + eps
                    blocked = rng.uniform(0, 1, (k, m)) < pool.block_prob[u]
                    times = t_dis[:, None] + lat
                    ev_t.append(times[~blocked])
                    ev_a.append(np.broadcast_to(amp, (k, m))[~blocked])
                    ev_w.append(np.broadcast_to(wid, (k, m))[~blocked])
                    rec["latency_s"] = np.where(blocked, np.nan, lat)
                    rec["realised_jitter_us"] = realised_jitter_us(rec["latency_s"])
                    rec["jiggle"] = jiggle_truth(amp, wid, lat, blocked, fs)
            peak_t[u, c], peak_v[u, c] = peak_of(mean[0], fs)
            if m or far_amp[u] > 0:
                rec["mean_muap_uv"] = np.round(mean[0] * 1e6, 3) if m else None
            units.append(rec)
        if ev_t:
            out = np.zeros((1, n))
            t_all = np.concatenate(ev_t)
            render_events(
                out,
                fs,
                t_all,
                np.concatenate(ev_a)[:, None],
                np.concatenate(ev_w)[:, None],
                kind="sfap",
            )
            data[c] += out[0]
        channels.append(
            {
                "channel": lay.names[c],
                "lateral_mm": el.lateral_mm,
                "depth_mm": el.depth_mm,
                "near_units": [r["id"] for r in units if r["n_fibres"] > 0],
                "units": [r for r in units if r["n_fibres"] > 0],
            }
        )
    return {
        "channels": channels,
        "pickup_mm": PICKUP_MM,
        "jitter_definition": "MCD of fibre-pair IPI, us",
    }
