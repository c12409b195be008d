"""Statistical (Poisson) MUNE (Daube; review Lomen-Hoerth & Slawnych, Muscle Nerve 2003;28:263).

At a fixed submaximal intensity the number of units that fire varies from stimulus to stimulus;
if it is Poisson, the single motor unit potential (S-MUP) size is
    S-MUP ≈ (variance − baseline noise variance) / mean
and MUNE = CMAP / S-MUP (Daube's estimator, `mune_classic`). The method needs blocks of >= 30
stimuli each at one fixed submaximal intensity, at >= 2 intensities (Daube's 30-50 stimuli per
intensity; Lomen-Hoerth & Slawnych 2003): `poisson_mune` refuses fewer. The variance uses
successive differences (half the mean squared successive difference), so a slow drift of the
responses does not inflate it.

Why the classic estimator is not the one reported when a stimulus-response curve exists: units
fire with a probability that rises over a narrow band of intensities around their threshold
(relative spread RS ≈ 1-3 %, Bostock, Muscle Nerve 2016;53:889), while thresholds spread over
~±20 %. At a block set for 20-40 % of the CMAP most responding units therefore fire on every
stimulus: they add to the mean but not to the variance, so variance/mean is a fraction of the
S-MUP and the classic MUNE reads several times too high (x4-5 on simulated ADM pools; the
binomial, not Poisson, model is Slawnych's point in the review above). The variance comes only
from the units whose threshold lies within ~RS·s of the block's intensity s, and for those
    variance ≈ a² · ρ · RS·s / √π,   slope of the mean response m′(s) ≈ a · ρ
(ρ: units per mA, a: their size; ∫Φ(1−Φ)dθ = σ/√π), so
    S-MUP = √π · (variance − noise variance) / (RS · s · m′(s)),
the slope-and-variance relation of MScanFit's first stage applied to a fixed-intensity block. It
needs the block's intensity and the slope of the stimulus-response curve there (the session's
CMAP scan) and inherits an assumed RS (2 %, as the CMAP-scan MUNE). Remaining biases, stated in
the result: unit-size variation weights the S-MUP by Σa²/Σa (MUNE low by 1 + CV²); an RS
smaller than assumed reads high in proportion. Without a curve the classic estimate is reported
with the warning that it is an upper bound.

A CMAP scan is not such a block: each intensity there is hit once or twice and the sweep moves
the mean within any run of stimuli (`scan_blocks`, the first version's input, is kept only as
the baseline the benchmark compares against).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from muwatch.analysis._fixed import as_float_array
from muwatch.errors import UsageError

METHOD = "statistical (Poisson) MUNE (Daube)"
MIN_BLOCK = 30  # stimuli per fixed intensity
MIN_BLOCKS = 2  # fixed intensities
RS_ASSUMED = 0.02  # relative spread of axon thresholds (human motor axons 1-3 %, Bostock 2016)
SLOPE_BAND_MA = 0.25  # smoothing of the stimulus-response curve before its slope is read
CLASSIC = "variance / mean (Daube: Poisson, every responding unit variable)"
SLOPE = "variance / (RS·s·slope) (binomial units with threshold noise; MScanFit's first stage)"


@dataclass(frozen=True)
class PoissonBlock:
    n: int
    mean_uv: float
    variance_uv2: float
    smup_uv: float | None  # the estimator's S-MUP for this block
    used: bool
    why_not: str = ""
    label: str = ""
    smup_classic_uv: float | None = None  # (variance − noise) / mean
    intensity_ma: float | None = None
    slope_uv_per_ma: float | None = None  # of the stimulus-response curve at the intensity


@dataclass(frozen=True)
class PoissonResult:
    mune: float | None
    smup_uv: float | None
    cmap_uv: float
    noise_uv: float
    blocks: tuple[PoissonBlock, ...]
    notes: tuple[str, ...]
    mune_range: tuple[float, float] | None = None  # CMAP / (S-MUP ± 1.96 SE over the blocks)
    mune_classic: float | None = None  # Daube's variance/mean estimate (upper bound)
    estimator: str = CLASSIC
    rel_spread_assumed: float | None = None
    method: str = METHOD
    kind: str = "MUNE"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["blocks"] = [asdict(b) for b in self.blocks]
        return d


def curve_slope(stimuli_ma: object, responses_uv: object, at_ma: Sequence[float]) -> np.ndarray:
    """Slope (µV/mA) of a stimulus-response curve (e.g. a CMAP scan) at each intensity: isotonic
    fit (responses never fall with intensity), smoothed over ~0.25 mA, then differentiated."""
    from scipy.ndimage import gaussian_filter1d

    from muwatch.analysis.cmapscan import _pava

    s = as_float_array(stimuli_ma, "curve stimuli", min_len=10)
    y = as_float_array(responses_uv, "curve responses", min_len=10)
    if s.size != y.size:
        raise UsageError("curve stimuli and responses differ in length")
    o = np.argsort(s, kind="stable")
    s, y = s[o], y[o]
    if not s[-1] > s[0]:
        raise UsageError("the stimulus-response curve needs more than one intensity")
    m = _pava(y)
    step = float(np.median(np.diff(s)))
    step = step if step > 0 else (s[-1] - s[0]) / s.size
    ms = gaussian_filter1d(m, max(2.0, SLOPE_BAND_MA / step))
    g = np.maximum(np.gradient(ms, s + np.arange(s.size) * 1e-9), 0.0)
    return np.interp(np.asarray(at_ma, dtype=float), s, g)


def poisson_mune(
    blocks_uv: Sequence[object],
    cmap_uv: float,
    noise_uv: float,
    *,
    floor_uv: float = 0.0,
    labels: Sequence[str] | None = None,
    min_blocks: int = MIN_BLOCKS,
    intensities_ma: Sequence[float] | None = None,
    curve: tuple[object, object] | None = None,
    rel_spread: float = RS_ASSUMED,
) -> PoissonResult:
    """MUNE from blocks of responses at fixed submaximal intensities (µV sizes, stimulus order),
    the supramaximal CMAP size and the noise SD of one response measurement (from baseline).

    With each block's intensity and a stimulus-response curve `curve` = (stimuli mA, responses
    µV) the S-MUP comes from the variance and the curve's slope (module docstring); without them,
    Daube's variance/mean, flagged as an upper bound. Fewer than `min_blocks` usable blocks give
    no MUNE (the result says why)."""
    if not cmap_uv > 0:
        raise UsageError("the supramaximal CMAP size must be positive")
    if not noise_uv >= 0:
        raise UsageError("noise SD must be >= 0")
    if not blocks_uv:
        raise UsageError("statistical MUNE needs blocks of responses at fixed intensities")
    if not 0.001 <= rel_spread <= 0.2:
        raise UsageError(f"relative spread must be within 0.001-0.2, got {rel_spread}")
    use_slope = curve is not None and intensities_ma is not None
    if use_slope:
        assert intensities_ma is not None and curve is not None
        if len(intensities_ma) != len(blocks_uv):
            raise UsageError(
                f"{len(blocks_uv)} blocks need {len(blocks_uv)} intensities, "
                f"got {len(intensities_ma)}"
            )
        inten = [float(v) for v in intensities_ma]
        if not all(math.isfinite(v) and v > 0 for v in inten):
            raise UsageError("block intensities must be positive mA")
        slopes = curve_slope(curve[0], curve[1], inten)
    out: list[PoissonBlock] = []
    for i, b in enumerate(blocks_uv):
        r = as_float_array(b, f"block {i}", min_len=2)
        mean = float(np.mean(r)) - floor_uv
        var = float(np.mean(np.diff(r) ** 2) / 2.0)
        excess = var - noise_uv**2
        why = ""
        if r.size < MIN_BLOCK:
            why = f"{r.size} responses (< {MIN_BLOCK})"
        elif mean < 0.05 * cmap_uv or mean > 0.6 * cmap_uv:
            why = "mean outside 5-60 % of the CMAP (too few units vary, or most always fire)"
        elif excess <= 3 * noise_uv**2 / np.sqrt(r.size) or excess <= 0:
            why = "variance not above the noise"
        classic = excess / mean if (mean > 0 and excess > 0) else None
        smup, s_ma, slope = classic, None, None
        if use_slope:
            s_ma, slope = inten[i], float(slopes[i])
            smup = None
            # the curve must rise by more than the noise across one unit's threshold band
            if excess > 0 and rel_spread * s_ma * slope > max(noise_uv, 1e-9 * cmap_uv):
                smup = math.sqrt(math.pi) * excess / (rel_spread * s_ma * slope)
            elif not why:
                why = "the stimulus-response curve is flat at this intensity (no unit threshold)"
        lab = labels[i] if labels is not None and i < len(labels) else f"block {i + 1}"
        out.append(
            PoissonBlock(
                r.size,
                mean,
                var,
                smup,
                used=not why and smup is not None,
                why_not=why,
                label=lab,
                smup_classic_uv=classic,
                intensity_ma=s_ma,
                slope_uv_per_ma=slope,
            )
        )
    used = [b for b in out if b.used]
    notes = []
    if use_slope:
        notes.append(
            f"S-MUP from each block's variance and the stimulus-response curve's slope at its "
            f"intensity, assumed threshold spread RS = {rel_spread:.1%}: MUNE scales with the "
            "true RS / assumed RS, and unit-size variation makes it low by (1 + CV²)"
        )
    else:
        notes.append(
            "Daube's variance/mean: units that always fire at the block's intensity add mean "
            "without variance, so this MUNE is an upper bound (several times N when thresholds "
            "spread more than their noise); give the block intensities and a CMAP scan for the "
            "corrected estimate"
        )
    ws = np.array([b.mean_uv for b in used])
    classic_vals = [b.smup_classic_uv for b in used if b.smup_classic_uv]
    mune_classic = None
    if classic_vals:
        wc = np.array([b.mean_uv for b in used if b.smup_classic_uv])
        mune_classic = cmap_uv / float(np.sum(wc * np.array(classic_vals)) / wc.sum())
    est = SLOPE if use_slope else CLASSIC
    rs = rel_spread if use_slope else None
    if len(used) < min_blocks:
        notes.append(
            f"{len(used)} usable block(s) of {len(out)}: no statistical MUNE (needs >= "
            f"{min_blocks} fixed intensities with >= {MIN_BLOCK} stimuli each)"
        )
        return PoissonResult(
            None, None, cmap_uv, noise_uv, tuple(out), tuple(notes), None, None, est, rs
        )
    # weighted mean S-MUP: each block weighted by its mean response (Daube's weighting)
    per = np.array([b.smup_uv for b in used], dtype=float)
    smup = float(np.sum(ws * per) / ws.sum())
    se = float(np.std(per, ddof=1) / np.sqrt(per.size))
    rng = (cmap_uv / (smup + 1.96 * se), cmap_uv / max(smup - 1.96 * se, 1e-3 * smup))
    return PoissonResult(
        cmap_uv / smup,
        smup,
        cmap_uv,
        noise_uv,
        tuple(out),
        tuple(notes),
        rng if se > 0 else None,
        mune_classic,
        est,
        rs,
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
