"""Signals built directly from the formulas the methods rest on (no simulator): MUAP trains with
known sizes and positions, CMAPs as sums, single-fibre spikes with known interval jitter, and
CMAP scans after Bostock 2016. Used where an exact expected value follows from the inputs."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr


def biphasic(fs: float, width_ms: float = 4.0, amp_uv: float = 100.0) -> np.ndarray:
    """Antisymmetric biphasic MUAP (derivative of a Gaussian), peak |amp|, negative first."""
    n = int(round(width_ms * 1e-3 * fs))
    t = (np.arange(-n, n + 1)) / fs
    s = width_ms * 1e-3 / 4.0
    w = t * np.exp(-0.5 * (t / s) ** 2)
    return amp_uv * w / np.abs(w).max()


def sip_epochs(
    fs: float, sizes: list[float], n_epochs: int, seconds: float = 0.5, seed: int = 0
) -> list[np.ndarray]:
    """Epochs where each unit (MUAP scaled by its size) fires once, never overlapping."""
    rng = np.random.default_rng(seed)
    m = biphasic(fs)
    n = int(round(seconds * fs))
    slots = np.arange(20, n - m.size - 20, m.size + 5)
    out = []
    for _ in range(n_epochs):
        x = np.zeros(n)
        pos = rng.choice(slots, size=len(sizes), replace=False)
        for p, s in zip(pos, sizes, strict=True):
            x[p : p + m.size] += s * m
        out.append(x)
    return out


def cmap_epoch(
    fs: float, total_size: float, pre_ms: float = 5.0, post_ms: float = 40.0
) -> tuple[np.ndarray, int]:
    """A CMAP: the same MUAP scaled by the summed unit sizes, after a pre-stimulus baseline."""
    m = biphasic(fs)
    pre = int(round(pre_ms * 1e-3 * fs))
    x = np.zeros(pre + int(round(post_ms * 1e-3 * fs)))
    onset = pre + int(round(3e-3 * fs))
    x[onset : onset + m.size] = total_size * m
    return x, pre


def bostock_scan(n_units: int, seed: int, n_stim: int = 450, noise_uv: float = 5.0):
    """A CMAP scan after Bostock 2016's simulation: amplitudes 25 µV + exponential (mean 62.5),
    thresholds N(26.5, 2) mA, relative spread 1.65 %, 450 stimuli 33 -> 20 mA."""
    rng = np.random.default_rng(seed)
    a = 25.0 + rng.exponential(37.5, n_units)
    th = rng.normal(26.5, 2.0, n_units)
    s = np.linspace(33.0, 20.0, n_stim)
    p = ndtr((s[:, None] - th[None, :]) / (0.0165 * th)[None, :])
    y = (rng.uniform(size=p.shape) < p) @ a + rng.normal(0.0, noise_uv, n_stim)
    return s, y, a, th
