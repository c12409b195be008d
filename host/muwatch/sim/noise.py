"""Measurement imperfections, each switchable, each logged in the ground truth.

- Gaussian noise (electrode + amplifier), set either as an SNR in dB against the clean signal's
  RMS (`snr_db`), as a peak SNR against the median visible MUAP peak (`peak_snr_db`, the usual
  spike-sorting convention), or as an absolute floor (`floor_uv_rms`).
- Mains interference at 50/60 Hz with 3rd and 5th harmonics, slowly modulated.
- Baseline wander: a sum of slow sinusoids below 0.5 Hz.
- Motion artifacts: smooth 1-10 Hz transients of a few hundred ms at random times.
- Electrode pops: a step on one channel decaying exponentially (τ 50-300 ms).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from muwatch.errors import UsageError


@dataclass(frozen=True)
class NoiseConfig:
    """What to add on top of the clean signal (set a field to 0/None to switch it off)."""

    snr_db: float | None = None
    peak_snr_db: float | None = None
    floor_uv_rms: float = 1.5
    mains_hz: float = 50.0
    mains_uv: float = 0.0
    wander_uv: float = 0.0
    motion_per_min: float = 0.0
    motion_uv: float = 300.0
    pops_per_min: float = 0.0
    pop_uv: float = 500.0

    def __post_init__(self) -> None:
        if self.snr_db is not None and self.peak_snr_db is not None:
            raise UsageError("give snr_db or peak_snr_db, not both")
        if self.mains_hz not in (50.0, 60.0):
            raise UsageError(f"mains_hz must be 50 or 60, got {self.mains_hz}")
        for name in ("floor_uv_rms", "mains_uv", "wander_uv", "motion_per_min", "pops_per_min"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the ground truth."""
        return asdict(self)


CLEAN = NoiseConfig(floor_uv_rms=0.0)
_NOISE_BLOCK = 1 << 20


def noise_sd(clean: np.ndarray, cfg: NoiseConfig, peak_v: np.ndarray | None = None) -> np.ndarray:
    """Per-channel Gaussian noise SD (V) the config asks for, given the clean signal."""
    n_ch = clean.shape[0]
    if cfg.snr_db is not None:
        rms = np.sqrt(np.mean(clean**2, axis=1))
        return rms / 10 ** (cfg.snr_db / 20)
    if cfg.peak_snr_db is not None:
        if peak_v is None:
            raise UsageError("peak_snr_db needs MUAP peaks (a recording with units)")
        return np.asarray(peak_v, dtype=float) / 10 ** (cfg.peak_snr_db / 20)
    return np.full(n_ch, cfg.floor_uv_rms * 1e-6)


def add_noise(
    data: np.ndarray, fs: float, cfg: NoiseConfig, rng: np.random.Generator, sd: np.ndarray
) -> list[dict[str, Any]]:
    """Add noise and artifacts to `data` (C, n) in place; return the artifact events."""
    n_ch, n = data.shape
    events: list[dict[str, Any]] = []
    if np.any(sd > 0):
        for b0 in range(0, n, _NOISE_BLOCK):  # in blocks: long sessions need no second copy
            b1 = min(n, b0 + _NOISE_BLOCK)
            data[:, b0:b1] += rng.standard_normal((n_ch, b1 - b0)) * sd[:, None]
    t = np.arange(n) / fs
    if cfg.mains_uv > 0:
        mod = 1.0 + 0.1 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 2 * np.pi))
        for c in range(n_ch):
            ph = rng.uniform(0, 2 * np.pi)
            gain = cfg.mains_uv * 1e-6 * rng.uniform(0.7, 1.3)
            wave = np.sin(2 * np.pi * cfg.mains_hz * t + ph)
            wave += 0.3 * np.sin(2 * np.pi * 3 * cfg.mains_hz * t + 3 * ph)
            wave += 0.1 * np.sin(2 * np.pi * 5 * cfg.mains_hz * t + 5 * ph)
            data[c] += gain * mod * wave
    if cfg.wander_uv > 0:
        for c in range(n_ch):
            f = rng.uniform(0.05, 0.5, 3)
            ph = rng.uniform(0, 2 * np.pi, 3)
            a = rng.uniform(0.3, 1.0, 3)
            wave = (a[:, None] * np.sin(2 * np.pi * f[:, None] * t[None, :] + ph[:, None])).sum(0)
            data[c] += cfg.wander_uv * 1e-6 * wave / a.sum()
    duration = n / fs
    for _ in range(rng.poisson(cfg.motion_per_min * duration / 60.0)):
        onset = rng.uniform(0, duration)
        length = rng.uniform(0.15, 0.5)
        f = rng.uniform(1.0, 10.0)
        i0, i1 = int(onset * fs), min(n, int((onset + length) * fs))
        tt = (np.arange(i0, i1) / fs - onset) / length
        env = np.sin(np.pi * tt) ** 2
        gains = cfg.motion_uv * 1e-6 * rng.uniform(0.3, 1.0, n_ch)
        data[:, i0:i1] += (
            gains[:, None] * env * np.sin(2 * np.pi * f * tt * length + rng.uniform(0, 6.3))
        )
        events.append({"kind": "motion", "onset_s": onset, "duration_s": length, "channel": None})
    for _ in range(rng.poisson(cfg.pops_per_min * duration / 60.0)):
        onset = rng.uniform(0, duration)
        c = int(rng.integers(n_ch))
        tau = rng.uniform(0.05, 0.3)
        i0 = int(onset * fs)
        i1 = min(n, i0 + int(6 * tau * fs))
        step = cfg.pop_uv * 1e-6 * rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0)
        data[c, i0:i1] += step * np.exp(-(np.arange(i1 - i0) / fs) / tau)
        events.append({"kind": "pop", "onset_s": onset, "duration_s": 6 * tau, "channel": c})
    events.sort(key=lambda e: e["onset_s"])
    return events
