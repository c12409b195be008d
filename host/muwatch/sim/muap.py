"""MUAP waveforms and the two renderers that place them in a signal.

Surface MUAP: a Hermite-Rodriguez expansion (Lo Conte, Merletti & Sandri, IEEE TBME
1994;41:1147) of order 0 and 1, φ(x) = (2b·x − 1)·exp(−x²), x = (t − c)/λ: a negative main phase
followed by a positive one, as over the belly in a belly-tendon montage. Amplitude (negative
peak) falls and λ grows with distance from the unit (see pool.surface_gain/surface_width_factor).

Single-fibre action potential (needle): the triphasic HR order-2 shape with a small order-1
asymmetry, ψ(x) = (2x² − 1 + 2a·x)·exp(−x²), narrow (λ ≈ 0.1 ms) and steeply attenuated.

Renderers:
- `render_trains`: voluntary firing (many discharges of few templates). Spikes sit on the sample
  grid; each unit's templates (sampled at their exact offsets) are added at all its discharges
  at once, in groups whose members cannot overlap (cost ∝ discharges × template length).
  (A rank-K SVD + FFT-convolution renderer was tried: it lost to this on every realistic load.)
- `render_events`: events at continuous times (CMAPs, single fibres with µs jitter), each
  waveform evaluated analytically at its exact time: sub-sample timing is preserved.
"""

from __future__ import annotations

import numpy as np

SUPPORT = 3.5  # template support in units of λ on each side of the centre
SFAP_ASYM = 0.3  # HR1 weight of the single-fibre potential


def surface_shape(x: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """Unit-negative-peak surface MUAP shape at normalised time x with biphasic weight b."""
    b = np.asarray(b, dtype=float)
    return (2.0 * b * x - 1.0) * np.exp(-(x**2)) / _surface_norm(b)


def _surface_xmin(b: np.ndarray | float) -> np.ndarray:
    b = np.asarray(b, dtype=float)
    return -2.0 * b / (1.0 + np.sqrt(1.0 + 8.0 * b**2))


def _surface_norm(b: np.ndarray | float) -> np.ndarray:
    x = _surface_xmin(b)
    return (1.0 - 2.0 * np.asarray(b, dtype=float) * x) * np.exp(-(x**2))


def surface_peak_x(b: np.ndarray | float) -> np.ndarray:
    """Normalised time of the negative peak of `surface_shape`."""
    return _surface_xmin(b)


_XF = np.linspace(-SUPPORT, SUPPORT, 200001)
_SF = (2 * _XF**2 - 1 + 2 * SFAP_ASYM * _XF) * np.exp(-(_XF**2))
_SFAP_NORM = float(-_SF.min())
SFAP_PEAK_X = float(_XF[np.argmin(_SF)])


def sfap_shape(x: np.ndarray) -> np.ndarray:
    """Unit-negative-peak single-fibre potential at normalised time x (triphasic)."""
    return (2 * x**2 - 1 + 2 * SFAP_ASYM * x) * np.exp(-(x**2)) / _SFAP_NORM


def render_trains(
    spike_samples: list[np.ndarray],
    amps: np.ndarray,
    widths_s: np.ndarray,
    shape_b: np.ndarray,
    centre_s: np.ndarray,
    fs: float,
    n_samples: int,
    delay_s: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of every unit's surface MUAP at its discharge samples, on C channels.

    amps, widths_s: (U, C); shape_b, centre_s: (U,); delay_s (U, C): for bipolar channels, the
    propagation delay to the second electrode (its delayed copy is subtracted). Returns
    (signal (C, n), templates (U, C, L)): the waveforms rendered (sample 0 = discharge sample).
    """
    amps = np.atleast_2d(np.asarray(amps, dtype=float))
    n_units, n_ch = amps.shape
    out = np.zeros((n_ch, n_samples))
    if n_units == 0:
        return out, np.zeros((0, n_ch, 1))
    delay = np.zeros_like(amps) if delay_s is None else np.asarray(delay_s, dtype=float)
    end = float(np.max(centre_s[:, None] + delay + SUPPORT * widths_s))
    length = int(np.ceil(end * fs)) + 1
    tj = np.arange(length) / fs
    tmpl = _surface_wave(
        tj[None, None, :] - centre_s[:, None, None], amps, widths_s, shape_b[:, None], delay
    )
    trains = [np.asarray(s, dtype=np.int64) for s in spike_samples]
    trains = [np.sort(s[(s >= 0) & (s < n_samples)]) for s in trains]
    ar = np.arange(length)
    for u, s in enumerate(trains):
        if s.size == 0:
            continue
        # Discharges `stride` apart never overlap within one template, so each group is a
        # plain fancy-index add (no np.add.at needed).
        min_isi = int(np.diff(s).min()) if s.size > 1 else length
        stride = max(1, -(-length // max(min_isi, 1)))
        full = s[s + length <= n_samples]
        for g in range(min(stride, full.size)):
            idx = full[g::stride][:, None] + ar[None, :]
            for c in range(n_ch):  # 1-D rows: much faster than one 2-D fancy add
                row = out[c]
                row[idx] += tmpl[u, c][None, :]
        for k in s[s + length > n_samples]:  # templates cut by the end of the recording
            m = n_samples - k
            out[:, k:] += tmpl[u, :, :m]
    return out, tmpl


def _surface_wave(
    t: np.ndarray, amps: np.ndarray, widths: np.ndarray, b: np.ndarray, delay: np.ndarray
) -> np.ndarray:
    """Monopolar MUAP at t (relative to its centre), minus its delayed copy where delay > 0."""
    x = t / widths[..., None]
    wave = np.where(np.abs(x) <= SUPPORT, surface_shape(x, b[..., None]), 0.0)
    if np.any(delay > 0):
        x2 = (t - delay[..., None]) / widths[..., None]
        wave = wave - np.where(
            (np.abs(x2) <= SUPPORT) & (delay[..., None] > 0), surface_shape(x2, b[..., None]), 0.0
        )
    return amps[..., None] * wave


def render_events(
    out: np.ndarray,
    fs: float,
    times_s: np.ndarray,
    amps: np.ndarray,
    widths_s: np.ndarray,
    *,
    kind: str = "surface",
    shape_b: np.ndarray | None = None,
    centre_s: np.ndarray | None = None,
    delay_s: np.ndarray | None = None,
    chunk: int = 1 << 21,
) -> None:
    """Add waveforms at continuous times into `out` (C, n), evaluated exactly (in place).

    times_s: (E,) reference times; amps, widths_s: (E, C); centre_s: (E,) offset of the waveform
    centre after the reference time (default: the waveform is centred on it).
    """
    times_s = np.asarray(times_s, dtype=float)
    n_ch, n = out.shape
    e_count = times_s.size
    if e_count == 0:
        return
    amps = np.asarray(amps, dtype=float).reshape(e_count, n_ch)
    widths_s = np.asarray(widths_s, dtype=float).reshape(e_count, n_ch)
    centre = np.zeros(e_count) if centre_s is None else np.asarray(centre_s, dtype=float)
    b = np.zeros(e_count) if shape_b is None else np.asarray(shape_b, dtype=float)
    delay = (
        np.zeros((e_count, n_ch))
        if delay_s is None
        else np.asarray(delay_s, dtype=float).reshape(e_count, n_ch)
    )
    half = int(np.ceil((SUPPORT * widths_s.max() + delay.max()) * fs)) + 1
    span = 2 * half + 1
    per = max(1, chunk // (span * n_ch))
    for e0 in range(0, e_count, per):
        sl = slice(e0, min(e0 + per, e_count))
        tc = times_s[sl] + centre[sl]
        first = np.floor(tc * fs).astype(np.int64) - half
        idx = first[:, None] + np.arange(span)[None, :]  # (E, span)
        tt = idx / fs
        valid = (idx >= 0) & (idx < n)
        if not valid.any():
            continue
        lo = int(idx[valid].min())
        hi = int(idx[valid].max()) + 1
        for c in range(n_ch):
            if kind == "surface":
                vals = _surface_wave(
                    tt - tc[:, None], amps[sl, c], widths_s[sl, c], b[sl], delay[sl, c]
                )
            else:
                x = (tt - tc[:, None]) / widths_s[sl, c][:, None]
                vals = amps[sl, c][:, None] * np.where(np.abs(x) <= SUPPORT, sfap_shape(x), 0.0)
            keep = valid & (vals != 0.0)
            out[c, lo:hi] += np.bincount(idx[keep] - lo, weights=vals[keep], minlength=hi - lo)


def peak_of(template: np.ndarray, fs: float) -> tuple[float, float]:
    """(time s, signed value) of the largest |value| of a sampled waveform, parabolic-refined."""
    if template.size == 0 or not np.any(template):
        return 0.0, 0.0
    j = int(np.argmax(np.abs(template)))
    dt = 0.0
    if 0 < j < template.size - 1:
        y0, y1, y2 = template[j - 1], template[j], template[j + 1]
        den = y0 - 2 * y1 + y2
        if den != 0:
            dt = float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5))
    return (j + dt) / fs, float(template[j])
