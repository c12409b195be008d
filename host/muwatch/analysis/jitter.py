"""Neuromuscular-junction stability from needle recordings: jitter and jiggle (C core).

Jitter (Ekstedt 1974; Stålberg): the mean consecutive difference (MCD) of the interval between
two potentials of one unit (pair mode, voluntary activation) or between a trigger and a potential
(trigger mode, stimulated). It needs >= 10 kHz sampling and sub-sample timing (parabolic
interpolation in mw_jitter). Reference values (concentric needle): frontalis 19.9 ± 2.9 µs
(upper limit 26 µs mean), tibialis anterior 37.0 ± 5.6 µs (upper limit 48.2 µs).

Jiggle (Stålberg & Sonoo, Muscle Nerve 1994;17:1135): shape variability of consecutive
discharges, as consecutive amplitude differences (CAD) and consecutive cross-correlation (CCC).
No validated surface version exists: these run on needle snippets only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from muwatch.analysis._fixed import Q15, Q16, check_fs, core, lsb_for, to_codes
from muwatch.errors import UsageError

MIN_FS_JITTER = 10_000.0

# Upper limits of normal mean jitter (concentric needle), µs: Stålberg et al. reference values.
JITTER_UPPER_LIMIT_US = {"frontalis": 26.0, "tibialis anterior": 48.2}


@dataclass(frozen=True)
class JitterResult:
    mcd_us: float | None
    mean_ipi_us: float | None
    n_discharges: int
    n_blocked: int
    blocking_percent: float
    n_diffs: int
    mode: str  # "pair" or "trigger"
    windows: tuple[tuple[int, int, int], ...]  # (lo, hi, polarity) per potential, samples
    fs: float
    ipi_us: tuple[float, ...] = field(repr=False, default=())
    notes: tuple[str, ...] = ()
    method: str = "jitter as MCD of inter-potential intervals (Ekstedt 1974)"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("ipi_us")
        d["windows"] = [list(w) for w in self.windows]
        return d


@dataclass(frozen=True)
class JiggleResult:
    cad_percent: float | None  # consecutive amplitude difference, % of mean rectified amplitude
    ccc: float | None  # consecutive cross-correlation coefficient
    n_pairs: int
    method: str = "jiggle: CAD and CCC of consecutive discharges (Stålberg & Sonoo 1994)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _snippets(snips: object) -> np.ndarray:
    s = np.asarray(snips, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] < 2 or s.shape[1] < 8:
        raise UsageError(
            f"snippets must be (n_discharges >= 2, n_samples >= 8), got shape {s.shape}"
        )
    if not np.all(np.isfinite(s)):
        raise UsageError("snippets contain NaN or infinite values")
    return s - np.median(s, axis=1, keepdims=True)


def _peaks(template: np.ndarray, pol: int) -> list[tuple[int, float]]:
    """Local extrema of one polarity: (index, size), largest first."""
    y = pol * template
    n = y.size
    is_pk = np.zeros(n, bool)
    is_pk[1:-1] = (y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > 0)
    out = [(int(i), float(y[i])) for i in np.flatnonzero(is_pk)]
    out.sort(key=lambda p: -p[1])
    return out


def auto_windows(
    snippets_uv: object,
    fs: float,
    *,
    half_width_ms: float = 0.15,
    min_sep_ms: float = 0.5,
    min_dip: float = 0.5,
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Two timeable potentials of the unit in its mean snippet.

    Candidates are the peaks of the template's main polarity (a single-fibre potential has one
    main peak, so two same-polarity peaks are two fibres, never the lobes of one), at least
    `min_sep_ms` apart, each at least 20 % of the largest and 8 noise SD, and separated by a dip
    of at least `min_dip` of the smaller one. Among
    them the pair whose peak times are least disturbed by noise wins: a peak's timing error is
    about σ/(√2·c) samples (σ the noise SD before the MUAP, c the peak's curvature), so the sum
    of the two squared errors is minimised. Each potential gets a window of ±half_width_ms."""
    s = _snippets(snippets_uv)
    fs = check_fs(fs)
    tpl = s.mean(axis=0)
    pol = 1 if tpl[int(np.argmax(np.abs(tpl)))] > 0 else -1
    hw = max(2, int(round(half_width_ms * fs / 1000.0)))
    sep = max(hw + 1, int(round(min_sep_ms * fs / 1000.0)))
    y = pol * tpl
    lead = max(4, s.shape[1] // 6)
    sigma = (
        float(
            np.median(
                np.median(
                    np.abs(s[:, :lead] - np.median(s[:, :lead], axis=1, keepdims=True)), axis=1
                )
            )
        )
        / 0.6745
    )
    cands = []
    floor = max(0.2 * float(y.max()), 8.0 * sigma)  # a real potential, well above the noise
    for i, v in _peaks(tpl, pol):
        if hw <= i < tpl.size - hw and v >= floor:
            c = 2 * y[i] - y[i - 1] - y[i + 1]
            if c > 0:
                cands.append((i, v, (max(sigma, 1e-9) / (np.sqrt(2.0) * c)) ** 2))
    best = None
    for k, (a, va, ea) in enumerate(cands):
        for b, vb, eb in cands[k + 1 :]:
            if abs(a - b) < sep:
                continue
            lo, hi = min(a, b), max(a, b)
            if y[lo : hi + 1].min() > (1.0 - min_dip) * min(va, vb):
                continue
            if best is None or ea + eb < best[0]:
                best = (ea + eb, lo, hi)
    if best is None:
        raise UsageError(
            "the unit's template has no two separate potentials of one polarity for pair jitter"
        )
    _, first, second = best
    return (first - hw, first + hw + 1, pol), (second - hw, second + hw + 1, pol)


def jitter(
    snippets_uv: object,
    fs: float,
    *,
    windows: tuple[tuple[int, int, int], ...] | None = None,
    block_fraction: float = 0.5,
    mode: str = "pair",
) -> JitterResult:
    """Jitter (MCD) over consecutive discharges of one unit.

    `snippets_uv` is (n_discharges, n_samples) in discharge order, aligned on detection (pair
    mode) or on the trigger (trigger mode: the snippet origin is the trigger). `windows` gives
    (lo, hi, polarity) per potential; by default pair mode picks them with auto_windows and
    trigger mode uses the largest peak. A potential below `block_fraction` of its median size is
    counted as blocked.
    """
    s = _snippets(snippets_uv)
    fs = check_fs(fs)
    if mode not in ("pair", "trigger"):
        raise UsageError(f"jitter mode must be 'pair' or 'trigger', got {mode!r}")
    if fs < MIN_FS_JITTER:
        raise UsageError(
            f"jitter needs >= {MIN_FS_JITTER:g} Hz sampling (sub-sample timing of tens of µs); "
            f"this recording is at {fs:g} Hz"
        )
    if not 0.0 <= block_fraction < 1.0:
        raise UsageError("block_fraction must be within [0, 1)")
    if s.shape[1] > 32767:
        raise UsageError("snippets longer than 32767 samples")
    if windows is None:
        if mode == "pair":
            windows = auto_windows(s, fs)
        else:
            tpl = s.mean(axis=0)
            i = int(np.argmax(np.abs(tpl)))
            hw = max(2, int(round(0.15e-3 * fs)))
            windows = ((max(0, i - hw), min(s.shape[1], i + hw + 1), 1 if tpl[i] > 0 else -1),)
    need = 2 if mode == "pair" else 1
    if len(windows) != need:
        raise UsageError(f"{mode} mode needs {need} window(s), got {len(windows)}")
    for lo, hi, pol in windows:
        if not (0 <= lo < hi <= s.shape[1]) or pol not in (1, -1):
            raise UsageError(f"bad jitter window {(lo, hi, pol)} for snippets of {s.shape[1]}")
    lsb = lsb_for([s])
    codes = to_codes(s, lsb)
    ffi, lib = core()
    cfg = ffi.new("mw_jitter_cfg_t *")
    tpl = s.mean(axis=0)
    blocks = []
    for lo, hi, pol in windows:
        peak_each = np.max(pol * s[:, lo:hi], axis=1)
        blocks.append(int(block_fraction * float(np.median(peak_each)) / lsb))
    (cfg.lo1, cfg.hi1, cfg.pol1), cfg.block1 = windows[0], blocks[0]
    if mode == "pair":
        (cfg.lo2, cfg.hi2, cfg.pol2), cfg.block2 = windows[1], blocks[1]
    else:
        cfg.lo2, cfg.hi2, cfg.pol2, cfg.block2 = 0, 0, 1, 0
    k, n = s.shape
    ipi = np.zeros(k, np.int32)
    blocked = np.zeros(k, np.uint8)
    res = ffi.new("mw_jitter_result_t *")
    rc = lib.mw_jitter_mcd(
        ffi.from_buffer("int32_t[]", codes),
        k,
        n,
        cfg,
        ffi.from_buffer("int32_t[]", ipi),
        ffi.from_buffer("uint8_t[]", blocked),
        res,
    )
    if rc not in (0, -3):
        raise UsageError(f"jitter refused the input (code {rc})")
    us = 1e6 / fs / Q16
    notes = []
    if k < 50:
        notes.append(f"{k} discharges; jitter is normally measured over 50-200")
    del tpl
    return JitterResult(
        mcd_us=res.mcd_q16 * us if rc == 0 else None,
        mean_ipi_us=res.mean_ipi_q16 * us if res.n_blocked < k else None,
        n_discharges=k,
        n_blocked=int(res.n_blocked),
        blocking_percent=100.0 * res.n_blocked / k,
        n_diffs=int(res.n_diffs),
        mode=mode,
        windows=tuple(tuple(int(v) for v in w) for w in windows),  # type: ignore[misc]
        fs=fs,
        ipi_us=tuple(float(v) * us for v in ipi),
        notes=tuple(notes),
    )


def jiggle(
    snippets_uv: object, fs: float, *, max_shift_ms: float = 0.2, skip: object = None
) -> JiggleResult:
    """Jiggle of one unit over consecutive discharges (snippets in discharge order)."""
    s = _snippets(snippets_uv)
    fs = check_fs(fs)
    shift = max(1, int(round(max_shift_ms * fs / 1000.0)))
    if s.shape[1] > 4096 or s.shape[1] < 2 * shift + 8:
        raise UsageError(
            f"jiggle snippets must be {2 * shift + 8}-4096 samples long, got {s.shape[1]}"
        )
    sk = None
    if skip is not None:
        sk = np.ascontiguousarray(np.asarray(skip, dtype=np.uint8))
        if sk.shape != (s.shape[0],):
            raise UsageError("skip must have one flag per discharge")
    codes = to_codes(s, lsb_for([s]))
    ffi, lib = core()
    res = ffi.new("mw_jiggle_result_t *")
    rc = lib.mw_jiggle(
        ffi.from_buffer("int32_t[]", codes),
        s.shape[0],
        s.shape[1],
        shift,
        ffi.NULL if sk is None else ffi.from_buffer("uint8_t[]", sk),
        res,
    )
    if rc not in (0, -3):
        raise UsageError(f"jiggle refused the input (code {rc})")
    ok = rc == 0
    return JiggleResult(
        cad_percent=100.0 * res.cad_q15 / Q15 if ok else None,
        ccc=res.ccc_q15 / Q15 if ok else None,
        n_pairs=int(res.n_pairs),
    )
