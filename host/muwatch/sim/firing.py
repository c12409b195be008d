"""Discharge times from an excitation drive (Fuglevand 1993 rate coding, vectorised).

Each unit's rate follows g·(E − RTEᵢ) + MFR, capped at its peak rate, while E ≥ RTEᵢ. Within a
recruited stretch the unit's phase Φ(t) = ∫ rate dt advances; a discharge occurs each time the
phase has gained 1 + cv·Z (Z standard normal), i.e. ISI = μ(1 + cv·Z) at the current mean μ, as
in Fuglevand's model. The first discharge comes at recruitment, so recruitment order is exact.
"""

from __future__ import annotations

import numpy as np

from muwatch.sim.pool import MotorUnitPool

CONTROL_DT = 1e-3  # s, resolution of the excitation drive
MIN_ISI_FACTOR = 0.25  # shortest ISI as a fraction of the mean (clip of 1 + cv·Z)


def excitation_drive(pool: MotorUnitPool, pct_mvc: np.ndarray) -> np.ndarray:
    """Excitation over time for a target force trace in % MVC."""
    return pool.excitation_for(pct_mvc)


def spike_trains(
    pool: MotorUnitPool,
    excitation: np.ndarray,
    dt: float = CONTROL_DT,
    *,
    seed: int = 0,
    stream: int = 10,
) -> list[np.ndarray]:
    """Discharge times (s, sorted) of every unit for an excitation sampled every `dt` seconds."""
    e = np.asarray(excitation, dtype=float)
    t = np.arange(e.size) * dt
    trains: list[np.ndarray] = []
    for u in range(pool.n):
        rng = np.random.default_rng(
            [int(pool.seed) & 0xFFFFFFFF, int(seed) & 0xFFFFFFFF, stream, int(pool.ids[u])]
        )
        active = e >= pool.rte[u]
        if not active.any():
            trains.append(np.empty(0))
            continue
        rate = np.where(
            active,
            np.minimum(pool.rate_gain * (e - pool.rte[u]) + pool.mfr_hz, pool.pfr_hz[u]),
            0.0,
        )
        edges = np.diff(np.concatenate(([0], active.view(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        stops = np.flatnonzero(edges == -1)
        out = []
        for a, b in zip(starts, stops, strict=True):
            # Phase at each grid point of the stretch, plus its end point.
            phase = np.concatenate(([0.0], np.cumsum(rate[a:b] * dt)))
            tt = np.concatenate((t[a:b], [t[b - 1] + dt]))
            total = phase[-1]
            m = int(total / (1.0 - 3 * pool.isi_cv) if pool.isi_cv < 0.3 else total * 4) + 8
            steps = np.maximum(1.0 + pool.isi_cv * rng.standard_normal(m), MIN_ISI_FACTOR)
            targets = np.concatenate(([0.0], np.cumsum(steps)))
            while targets[-1] < total:  # rare: draw more intervals
                more = np.maximum(1.0 + pool.isi_cv * rng.standard_normal(m), MIN_ISI_FACTOR)
                targets = np.concatenate((targets, targets[-1] + np.cumsum(more)))
            targets = targets[targets < total]
            out.append(np.interp(targets, phase, tt))
        trains.append(np.concatenate(out) if out else np.empty(0))
    return trains
