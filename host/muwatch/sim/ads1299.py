"""ADS1299 24-bit codes and the signal-source file the firmware's ADS1299 model plays.

Code = round(V · gain / Vref · 2²³), saturated to −2²³ … 2²³−1 as the converter does
(ADS1299 datasheet: LSB = Vref / gain / 2²³, full scale ±Vref/gain). Saturation is counted
and reported, never silent.

Signal-source file (the contract with the firmware area): `<stem>.i32` raw little-endian int32,
8 channels interleaved per sample (unused channels 0); `<stem>.json` {"fs", "n_channels": 8,
"n_samples", "gain", "vref", "scenario", "seed", "channels": [8 names, "" when unused],
"clipped_samples"}.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from muwatch.errors import FileFormatError, StorageError, UsageError

N_CHANNELS = 8
CODE_MIN = -(1 << 23)
CODE_MAX = (1 << 23) - 1
GAINS = (1, 2, 4, 6, 8, 12, 24)
DEFAULT_GAIN = 24
DEFAULT_VREF = 4.5


class SaturationWarning(UserWarning):
    """Samples exceeded the converter's input range and were clipped to its rails."""


def _check(gain: float, vref: float) -> None:
    if gain not in GAINS:
        raise UsageError(f"ADS1299 gain must be one of {GAINS}, got {gain}")
    if not 0 < vref <= 5.0:
        raise UsageError(f"vref must be in (0, 5] V, got {vref}")


def lsb_volts(gain: int = DEFAULT_GAIN, vref: float = DEFAULT_VREF) -> float:
    """Input-referred volts per code."""
    _check(gain, vref)
    return vref / gain / (1 << 23)


def to_ads1299_codes(
    data: np.ndarray, gain: int = DEFAULT_GAIN, vref: float = DEFAULT_VREF
) -> np.ndarray:
    """Volts (C, n), C ≤ 8, to int32 codes (n, 8): interleaved per sample, unused channels 0.

    Values beyond full scale are clipped to the rails with a SaturationWarning giving the count.
    """
    _check(gain, vref)
    data = np.atleast_2d(np.asarray(data, dtype=float))
    n_ch, n = data.shape
    if n_ch > N_CHANNELS:
        raise UsageError(f"the ADS1299 has {N_CHANNELS} channels; got {n_ch}")
    if not np.all(np.isfinite(data)):
        raise UsageError("signal contains NaN or infinity; cannot convert to codes")
    scaled = np.rint(data * (gain / vref * (1 << 23)))
    clipped = int(np.count_nonzero((scaled < CODE_MIN) | (scaled > CODE_MAX)))
    if clipped:
        warnings.warn(
            f"{clipped} samples beyond ±{vref / gain * 1e3:.1f} mV full scale at gain {gain} were clipped",
            SaturationWarning,
            stacklevel=2,
        )
    codes = np.zeros((n, N_CHANNELS), dtype=np.int32)
    codes[:, :n_ch] = np.clip(scaled, CODE_MIN, CODE_MAX).T.astype(np.int32)
    return codes


def from_ads1299_codes(
    codes: np.ndarray, gain: int = DEFAULT_GAIN, vref: float = DEFAULT_VREF
) -> np.ndarray:
    """int32 codes (n, 8) back to volts (8, n)."""
    return np.asarray(codes, dtype=float).T * lsb_volts(gain, vref)


def write_signal_source(
    path_stem: str | Path, codes: np.ndarray, fs: float, meta: dict[str, Any]
) -> tuple[Path, Path]:
    """Write `<stem>.i32` and `<stem>.json` for the firmware's ADS1299 model.

    `codes`: int (n, C ≤ 8) ADS1299 codes; `meta` gives "gain", optionally "vref", "scenario",
    "seed" and "channels" (names of the used channels).
    """
    stem = Path(path_stem)
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] > N_CHANNELS:
        raise UsageError(f"codes must be (n_samples, ≤{N_CHANNELS}), got shape {codes.shape}")
    if not np.issubdtype(codes.dtype, np.integer):
        raise UsageError("codes must be integers (use to_ads1299_codes)")
    if codes.size and (codes.min() < CODE_MIN or codes.max() > CODE_MAX):
        raise UsageError("codes outside the ADS1299 24-bit range")
    gain = int(meta.get("gain", DEFAULT_GAIN))
    vref = float(meta.get("vref", DEFAULT_VREF))
    _check(gain, vref)
    n, used = codes.shape
    full = np.zeros((n, N_CHANNELS), dtype="<i4")
    full[:, :used] = codes
    names = [str(x) for x in meta.get("channels", [f"EMG{i + 1}" for i in range(used)])]
    if len(names) > N_CHANNELS:
        raise UsageError(f"at most {N_CHANNELS} channel names")
    names = names + [""] * (N_CHANNELS - len(names))
    header = {
        "fs": float(fs),
        "n_channels": N_CHANNELS,
        "n_samples": int(n),
        "gain": gain,
        "vref": vref,
        "scenario": str(meta.get("scenario", "custom")),
        "seed": int(meta.get("seed", 0)),
        "channels": names,
        "clipped_samples": int(np.count_nonzero((full == CODE_MIN) | (full == CODE_MAX))),
    }
    for key in ("annotations", "triggers"):
        if key in meta:
            header[key] = meta[key]
    bin_path, json_path = stem.with_suffix(".i32"), stem.with_suffix(".json")
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        full.tofile(bin_path)
        json_path.write_text(json.dumps(header, indent=1) + "\n")
    except OSError as exc:
        raise StorageError(f"cannot write signal source {stem}: {exc}") from exc
    return bin_path, json_path


@dataclass(frozen=True)
class SignalSource:
    """A signal-source file read back: codes (n, 8) int32 and its header."""

    codes: np.ndarray
    fs: float
    gain: int
    vref: float
    scenario: str
    seed: int
    channels: tuple[str, ...]
    meta: dict[str, Any]

    def volts(self) -> np.ndarray:
        """The samples in volts, (8, n)."""
        return from_ads1299_codes(self.codes, self.gain, self.vref)


def read_signal_source(path_stem: str | Path, *, mmap: bool = False) -> SignalSource:
    """Read `<stem>.i32` + `<stem>.json`, checking that they agree."""
    stem = Path(path_stem)
    if stem.suffix in (".i32", ".json"):
        stem = stem.with_suffix("")
    json_path, bin_path = stem.with_suffix(".json"), stem.with_suffix(".i32")
    try:
        meta = json.loads(json_path.read_text())
    except FileNotFoundError as exc:
        raise FileFormatError(f"signal-source header not found: {json_path}") from exc
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{json_path} is not a signal-source header: {exc}") from exc
    missing = [k for k in ("fs", "n_channels", "n_samples", "gain") if k not in meta]
    if missing:
        raise FileFormatError(f"{json_path} lacks {', '.join(missing)}")
    if meta["n_channels"] != N_CHANNELS:
        raise FileFormatError(
            f"{json_path}: n_channels must be {N_CHANNELS}, got {meta['n_channels']}"
        )
    if not bin_path.exists():
        raise FileFormatError(f"signal-source samples not found: {bin_path}")
    size = bin_path.stat().st_size
    expected = int(meta["n_samples"]) * N_CHANNELS * 4
    if size != expected:
        raise FileFormatError(
            f"{bin_path} holds {size} bytes but the header says {meta['n_samples']} samples × 8 channels × 4 bytes = {expected}"
        )
    if mmap:
        codes = np.memmap(bin_path, dtype="<i4", mode="r").reshape(-1, N_CHANNELS)
    else:
        codes = np.fromfile(bin_path, dtype="<i4").reshape(-1, N_CHANNELS)
    return SignalSource(
        codes=codes,
        fs=float(meta["fs"]),
        gain=int(meta["gain"]),
        vref=float(meta.get("vref", DEFAULT_VREF)),
        scenario=str(meta.get("scenario", "")),
        seed=int(meta.get("seed", 0)),
        channels=tuple(meta.get("channels", [""] * N_CHANNELS)),
        meta=meta,
    )
