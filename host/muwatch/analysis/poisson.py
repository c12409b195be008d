"""Statistical (Poisson) MUNE (Daube; review Lomen-Hoerth & Slawnych, Muscle Nerve 2003;28:263).

At a fixed submaximal intensity the number of units that fire varies from stimulus to stimulus;
if it is Poisson, the single motor unit potential (S-MUP) size is
    S-MUP ≈ (variance − baseline noise variance) / mean
and MUNE = CMAP / S-MUP. The method needs blocks of >= 30 stimuli each at one fixed submaximal
intensity, at >= 2 intensities (Daube's 30-50 stimuli per intensity, several intensities so that
no single group of units dominates; Lomen-Hoerth & Slawnych 2003): `poisson_mune` refuses fewer.
The variance uses successive differences (half the mean squared successive difference), so a
slow drift of the responses does not inflate it. The mean is taken above the response floor (the
size measured when no unit fires). Biases, stated in the result: unit-size variation inflates
the S-MUP by (1 + CV²) (MUNE too low); units that fire on nearly every stimulus add mean without
variance (MUNE too high); the two partly cancel. The spread of the S-MUP over the blocks gives
the uncertainty reported with the MUNE.

A CMAP scan is not such a block: each intensity there is hit once or twice and the sweep moves
the mean within any run of stimuli (`scan_blocks`, the first version's input, is kept only as
the baseline the benchmark compares against).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from muwatch.analysis._fixed import as_float_array
from muwatch.errors import UsageError

METHOD = "statistical (Poisson) MUNE (Daube)"
MIN_BLOCK = 30  # stimuli per fixed intensity
MIN_BLOCKS = 2  # fixed intensities


@dataclass(frozen=True)
class PoissonBlock:
    n: int
    mean_uv: float
    variance_uv2: float
    smup_uv: float | None
    used: bool
    why_not: str = ""
    label: str = ""


@dataclass(frozen=True)
class PoissonResult:
    mune: float | None
    smup_uv: float | None
    cmap_uv: float
    noise_uv: float
    blocks: tuple[PoissonBlock, ...]
    notes: tuple[str, ...]
    mune_range: tuple[float, float] | None = None  # CMAP / (S-MUP ± 1.96 SE over the blocks)
    method: str = METHOD
    kind: str = "MUNE"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["blocks"] = [asdict(b) for b in self.blocks]
        return d


def poisson_mune(
    blocks_uv: Sequence[object],
    cmap_uv: float,
    noise_uv: float,
    *,
    floor_uv: float = 0.0,
    labels: Sequence[str] | None = None,
    min_blocks: int = MIN_BLOCKS,
) -> PoissonResult:
    """MUNE from blocks of responses at fixed submaximal intensities (µV sizes, stimulus order),
    the supramaximal CMAP size and the noise SD of one response measurement (from baseline).
    Fewer than `min_blocks` usable blocks give no MUNE (the result says why)."""
    if not cmap_uv > 0:
        raise UsageError("the supramaximal CMAP size must be positive")
    if not noise_uv >= 0:
        raise UsageError("noise SD must be >= 0")
    if not blocks_uv:
        raise UsageError("statistical MUNE needs blocks of responses at fixed intensities")
    out: list[PoissonBlock] = []
    for i, b in enumerate(blocks_uv):
        r = as_float_array(b, f"block {i}", min_len=2)
        mean = float(np.mean(r)) - floor_uv
        var = float(np.mean(np.diff(r) ** 2) / 2.0) if r.size > 1 else 0.0
        excess = var - noise_uv**2
        why = ""
        if r.size < MIN_BLOCK:
            why = f"{r.size} responses (< {MIN_BLOCK})"
        elif mean < 0.05 * cmap_uv or mean > 0.6 * cmap_uv:
            why = "mean outside 5-60 % of the CMAP (too few units vary, or most always fire)"
        elif excess <= 3 * noise_uv**2 / np.sqrt(r.size) or excess <= 0:
            why = "variance not above the noise"
        smup = excess / mean if (mean > 0 and excess > 0) else None
        lab = labels[i] if labels is not None and i < len(labels) else f"block {i + 1}"
        out.append(
            PoissonBlock(
                r.size, mean, var, smup, used=not why and smup is not None, why_not=why, label=lab
            )
        )
    used = [b for b in out if b.used]
    notes = [
        "Poisson assumption: S-MUP is inflated by (1 + CV²) of unit sizes (MUNE low) and deflated"
        " by units that always fire at the block's intensity (MUNE high)"
    ]
    if len(used) < min_blocks:
        notes.append(
            f"{len(used)} usable block(s) of {len(out)}: no statistical MUNE (needs >= "
            f"{min_blocks} fixed intensities with >= {MIN_BLOCK} stimuli each)"
        )
        return PoissonResult(None, None, cmap_uv, noise_uv, tuple(out), tuple(notes))
    w = np.array([b.mean_uv for b in used])
    per = np.array([b.smup_uv for b in used], dtype=float)
    smup = float(np.sum(w * per) / w.sum())
    se = float(np.std(per, ddof=1) / np.sqrt(per.size))
    rng = (cmap_uv / (smup + 1.96 * se), cmap_uv / max(smup - 1.96 * se, 1e-3 * smup))
    if not se > 0:
        rng = None
    return PoissonResult(
        cmap_uv / smup, smup, cmap_uv, noise_uv, tuple(out), tuple(notes), mune_range=rng
    )


def scan_blocks(
    stimuli_ma: object, responses_uv: object, cmap_uv: float, size: int = MIN_BLOCK
) -> list[np.ndarray]:
    """Blocks of `size` consecutive stimuli (by intensity) from a CMAP scan whose mean response
    lies within 10-50 % of the CMAP. Not fixed intensities: the benchmark's baseline only (what
    the first version fed the statistical MUNE), never used by the analysis."""
    s = as_float_array(stimuli_ma, "stimuli")
    y = as_float_array(responses_uv, "responses")
    if s.size != y.size:
        raise UsageError("stimuli and responses differ in length")
    o = np.argsort(s, kind="stable")
    y = y[o]
    out = []
    for i in range(0, y.size - size + 1, size):
        blk = y[i : i + size]
        if 0.1 * cmap_uv <= blk.mean() <= 0.5 * cmap_uv:
            out.append(blk)
    return out
