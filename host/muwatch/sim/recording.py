"""A simulated recording: samples in volts, channel names, annotations and the ground truth.

The truth is a JSON-able dict (schema in docs/simulator.md, "format": "muwatch-sim-truth"):
per-unit discharge times, per-channel MUAP peak offsets/amplitudes/SNR and rendered templates,
the true unit count, CMAP measures, stimuli, artifacts and (needle) per-fibre latencies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from muwatch.errors import FileFormatError, StorageError

TRUTH_FORMAT = "muwatch-sim-truth"
TRUTH_VERSION = 1


@dataclass(frozen=True)
class Annotation:
    """A labelled stretch of the recording (phase, stimulus, artifact)."""

    onset: float
    duration: float
    text: str


@dataclass
class Recording:
    """Samples (C, n) in volts at `fs`, with names, annotations and ground truth."""

    data: np.ndarray
    fs: float
    channels: tuple[str, ...]
    kinds: tuple[str, ...]
    annotations: list[Annotation]
    truth: dict[str, Any]
    scenario: str = "custom"
    seed: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        return self.n_samples / self.fs

    def firings(self) -> list[np.ndarray]:
        """True discharge times (s) of every unit, in the truth's unit order."""
        return [np.asarray(u["firings_s"], dtype=float) for u in self.truth.get("units", [])]

    def save_truth(self, path: str | Path) -> Path:
        """Write the ground truth as JSON."""
        return write_truth(path, self.truth)


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays (recursively) into plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def write_truth(path: str | Path, truth: dict[str, Any]) -> Path:
    """Write a ground-truth dict as compact JSON (numbers at full float precision)."""
    path = Path(path)
    try:
        path.write_text(json.dumps(jsonable(truth), separators=(",", ":")))
    except OSError as exc:
        raise StorageError(f"cannot write ground truth {path}: {exc}") from exc
    return path


def read_truth(path: str | Path) -> dict[str, Any]:
    """Read a ground-truth JSON written by the simulator, checking its format tag."""
    path = Path(path)
    try:
        truth = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise FileFormatError(f"ground-truth file not found: {path}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path} is not a ground-truth JSON file: {exc}") from exc
    if not isinstance(truth, dict) or truth.get("format") != TRUTH_FORMAT:
        raise FileFormatError(
            f'{path} is not a muwatch ground-truth file (expected "format": "{TRUTH_FORMAT}"); '
            "write one with `muwatch simulate`"
        )
    if int(truth.get("version", 0)) > TRUTH_VERSION:
        raise FileFormatError(
            f"{path}: truth version {truth.get('version')} is newer than this muwatch reads"
        )
    return truth
