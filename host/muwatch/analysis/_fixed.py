"""Float <-> fixed-point glue for the MUNE modules of the C core.

The C modules work on 24-bit integer codes (what the ADS1299 delivers). Signals that arrive in
physical units (µV from BDF/EDF/WFDB or the simulator) are quantised with a power-of-two LSB chosen
so the largest sample still fits 23 bits: the ratios MUNIX uses are then exact to well below the
ADC's own resolution, and the same integers can be fed to the device build.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from muwatch.errors import UsageError

CODE_MAX = (1 << 23) - 1
Q15 = float(1 << 15)
Q16 = float(1 << 16)


def core() -> tuple[Any, Any]:
    """(ffi, lib) of the cffi C core, with a clear error when it has not been built."""
    try:
        from muwatch import _core
    except ImportError as exc:  # pragma: no cover - depends on the build state
        raise UsageError(
            "the C core (muwatch._core) is not built: run `make core` in the muwatch checkout"
        ) from exc
    return _core.ffi, _core.lib


def lsb_for(arrays: Iterable[np.ndarray], headroom_bits: int = 1) -> float:
    """Power-of-two LSB (in the arrays' unit) so every sample fits 23 - headroom_bits bits."""
    peak = 0.0
    for a in arrays:
        if a.size:
            m = float(np.max(np.abs(a)))
            if not math.isfinite(m):
                raise UsageError("signal contains NaN or infinite samples; cut them out first")
            peak = max(peak, m)
    if peak == 0.0:
        return 1.0
    return 2.0 ** math.ceil(math.log2(peak / float(CODE_MAX >> headroom_bits)))


def to_codes(x: np.ndarray, lsb: float) -> np.ndarray:
    """Quantise to C-contiguous int32 codes (round to nearest, clipped to 24 bits)."""
    q = np.rint(np.asarray(x, dtype=np.float64) / lsb)
    return np.ascontiguousarray(np.clip(q, -CODE_MAX, CODE_MAX).astype(np.int32))


def as_float_array(x: object, name: str, *, min_len: int = 1) -> np.ndarray:
    """A 1-D float64 array or a UsageError naming the argument."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name} must be a 1-D array of numbers") from exc
    if a.ndim != 1:
        raise UsageError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size < min_len:
        raise UsageError(f"{name} needs at least {min_len} samples, got {a.size}")
    if not np.all(np.isfinite(a)):
        raise UsageError(f"{name} contains NaN or infinite values")
    return a


def check_fs(fs: object, *, low: float = 100.0, high: float = 200_000.0) -> float:
    """Sampling rate as float, or a UsageError."""
    try:
        f = float(fs)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise UsageError(f"sampling rate must be a number, got {fs!r}") from exc
    if not (low <= f <= high) or not math.isfinite(f):
        raise UsageError(f"sampling rate must be within {low:g}-{high:g} Hz, got {f:g}")
    return f
