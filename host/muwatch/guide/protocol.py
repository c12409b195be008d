"""The guided home-session protocol as data: steps with instructions, targets and durations.

A session: rest baseline (the noise floor every later step is measured against), maximal
voluntary contractions (MVC, the reference for every target), two steady low-force holds at 2 and
5 % MVC (the stimulator-free indices: surface MUAPs separate only at threshold-level to a few %
MVC, and spike-triggered averaging takes S-MUPs from such holds, McNeil et al., Clin
Neurophysiol 2005;116:1342; each hold is long enough for >= 5 units x >= 50 discharges at
threshold rates of ~8 Hz: 30 s, as DE-STA contractions [check]), graded contractions from slight
to maximal force with live feedback of level against target (the SIP epochs of MUNIX: the
guideline's >= 20 epochs of 500 ms), and an optional stimulator block: supramaximal stimuli (the
CMAP), a CMAP scan from supramaximal to subthreshold, and blocks of stimuli at fixed
submaximal intensities for the statistical (Poisson) MUNE (Daube: responses to >= 30 stimuli at
each of >= 2 fixed intensities; review Lomen-Hoerth & Slawnych, Muscle Nerve 2003;28:263); the
operator sets each block's intensity where the scan's response is near the block's target
fraction of the CMAP. The trigger input marks each stimulus. Phase names are what the
recording's `PHASE` annotations carry and what `muwatch analyze` reads (steady/SIP/MVC =
voluntary, rest = baseline, supramaximal, scan, fixed submaximal block).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from muwatch.errors import UsageError

Kind = Literal["rest", "mvc", "steady", "stimuli", "scan", "block"]


@dataclass(frozen=True)
class Step:
    kind: Kind
    seconds: float
    name: str  # phase annotation (what analysis reads)
    instruction: str  # what the person is told
    target_pct: float | None = None  # % MVC for steady contractions
    n_stimuli: int = 0  # stimuli / scan
    interval_s: float = 1.0
    lead_s: float = 0.5
    response_pct: float | None = None  # fixed block: target response, % of the CMAP


@dataclass(frozen=True)
class Protocol:
    name: str
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    @property
    def has_stimulator(self) -> bool:
        return any(s.kind in ("stimuli", "scan", "block") for s in self.steps)

    def stimulus_times(self) -> list[tuple[float, Step]]:
        """(time from the session start, step) of every planned stimulus."""
        out, t = [], 0.0
        for s in self.steps:
            if s.kind in ("stimuli", "scan", "block"):
                out += [(t + s.lead_s + k * s.interval_s, s) for k in range(s.n_stimuli)]
            t += s.seconds
        return out


def _rest(seconds: float, name: str = "rest", text: str = "Relax the muscle completely.") -> Step:
    return Step("rest", seconds, name, text)


def _steady(pct: float, seconds: float, name: str) -> Step:
    return Step(
        "steady",
        seconds,
        name,
        f"Hold {pct:g} % of your maximum: keep the bar on the target line.",
        target_pct=pct,
    )


BLOCK_STIMULI = 30  # per fixed-intensity block (Daube; Lomen-Hoerth & Slawnych 2003)


def guided_protocol(
    *,
    stimulator: bool = False,
    quick: bool = False,
    sip_levels: Sequence[float] = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100),
    low_levels: Sequence[float] = (2.0, 5.0),
    scan_stimuli: int = 300,
    scan_rate_hz: float = 2.0,
    block_targets: Sequence[float] = (20.0, 40.0),
    block_rate_hz: float = 1.0,
) -> Protocol:
    """The home session. `quick` shortens every hold (demo and tests); the structure stays.

    low_levels: the steady low-force holds of the indices (% MVC, 30 s each; 10 s quick).
    SIP: each level is held long enough for >= 2 accepted 500 ms epochs after the first 0.5 s,
    so 10 levels give the guideline's >= 20 epochs. The CMAP scan runs at `scan_rate_hz`
    (MScanFit protocols use ~2 Hz; the simulated demo may go faster). block_targets: one block
    of `BLOCK_STIMULI` stimuli at a fixed intensity per target response (% of the CMAP) for
    the statistical MUNE, at `block_rate_hz`; () leaves them out."""
    if not sip_levels or any(not 0 < p <= 100 for p in sip_levels):
        raise UsageError("SIP levels must be percentages of MVC within (0, 100]")
    if any(not 0 < p <= 10 for p in low_levels):
        raise UsageError("low-force levels must be within (0, 10] % MVC")
    if stimulator and not 60 <= scan_stimuli <= 1000:
        raise UsageError("a CMAP scan needs 60-1000 stimuli")
    if not 0.2 <= scan_rate_hz <= 20:
        raise UsageError("scan rate must be within 0.2-20 Hz")
    if any(not 5 <= p <= 60 for p in block_targets) or not 0.2 <= block_rate_hz <= 20:
        raise UsageError("fixed blocks need targets within 5-60 % of the CMAP and 0.2-20 Hz")
    hold = 1.6 if quick else 2.5
    rest = 1.0 if quick else 2.0
    steps: list[Step] = [
        _rest(3.0 if quick else 10.0, "rest (baseline)", "Relax: this is the baseline."),
        Step("mvc", 3.0, "MVC", "Push as hard as you can, now!", target_pct=100.0),
        _rest(2.0 if quick else 5.0, "rest after MVC"),
    ]
    for p in sorted(low_levels):
        steps += [_steady(float(p), 10.0 if quick else 30.0, f"steady {p:g}% MVC"), _rest(rest)]
    for p in sip_levels:
        steps += [_steady(float(p), hold, f"SIP {p:g}% MVC"), _rest(rest)]
    notes = []
    if stimulator:
        steps += [
            Step(
                "stimuli",
                5.5,
                "supramaximal stimuli",
                "Stay relaxed: 5 strong stimuli follow (the stimulator is set above maximal).",
                n_stimuli=5,
                interval_s=1.0,
                lead_s=0.5,
            ),
            _rest(1.0),
            Step(
                "scan",
                0.5 + scan_stimuli / scan_rate_hz,
                "CMAP scan",
                "Stay relaxed: the stimulator sweeps from strong to weak.",
                n_stimuli=scan_stimuli,
                interval_s=1.0 / scan_rate_hz,
                lead_s=0.5,
            ),
            _rest(1.0),
        ]
        for k, p in enumerate(block_targets):
            steps += [
                Step(
                    "block",
                    0.5 + BLOCK_STIMULI / block_rate_hz,
                    f"fixed submaximal block {k + 1} (~{p:g}% CMAP)",
                    f"Stay relaxed: {BLOCK_STIMULI} stimuli at one fixed intensity (the operator "
                    f"sets it where the scan's response is ~{p:g} % of the CMAP).",
                    n_stimuli=BLOCK_STIMULI,
                    interval_s=1.0 / block_rate_hz,
                    lead_s=0.5,
                    response_pct=float(p),
                ),
                _rest(1.0),
            ]
    else:
        notes.append("no stimulator: indices only (index, not MUNE); no CMAP, no MUNIX")
    return Protocol(
        "guided home session" + (" (quick)" if quick else ""), tuple(steps), tuple(notes)
    )


def to_sim_schedule(
    protocol: Protocol,
    scan_range_ma: tuple[float, float] | None = None,
    block_ma: Sequence[float] = (),
) -> list[Any]:
    """The protocol as a muwatch.sim schedule: a simulated participant who does what is asked
    (holds each target force), and the stimulator set to `block_ma` for the fixed blocks."""
    from muwatch import sim

    blocks = [s for s in protocol.steps if s.kind == "block"]
    if blocks and len(block_ma) != len(blocks):
        raise UsageError(f"{len(blocks)} fixed blocks need {len(blocks)} intensities (block_ma)")
    it = iter(block_ma)
    out: list[Any] = []
    for s in protocol.steps:
        if s.kind == "rest":
            out.append(sim.Rest(s.seconds, s.name))
        elif s.kind == "mvc":
            out.append(sim.MVC(s.seconds, 0.5, s.name))
        elif s.kind == "steady":
            out.append(sim.Steady(float(s.target_pct or 0.0), s.seconds, s.name))
        elif s.kind == "stimuli":
            out.append(sim.Stimuli(s.n_stimuli, None, s.interval_s, s.lead_s, s.name))
        elif s.kind == "scan":
            out.append(sim.Scan(s.n_stimuli, scan_range_ma, s.interval_s, s.lead_s, s.name))
        elif s.kind == "block":
            out.append(sim.Stimuli(s.n_stimuli, float(next(it)), s.interval_s, s.lead_s, s.name))
    return out


def block_intensities(
    scan_ma: object, scan_uv: object, targets: Sequence[float], *, cmap_uv: float | None = None
) -> list[float]:
    """What the operator reads off a CMAP scan for the fixed blocks: the lowest intensity where
    the scan's running median (over ~5 % of its stimuli) reaches each target % of the CMAP.
    The CMAP defaults to the scan's plateau: the median of its 10 largest responses."""
    s = np.asarray(scan_ma, dtype=float)
    y = np.asarray(scan_uv, dtype=float)
    if cmap_uv is None:
        cmap_uv = float(np.median(np.sort(y)[-10:])) if y.size else 0.0
    if s.size < 20 or s.size != y.size or not cmap_uv > 0:
        raise UsageError("a scan of >= 20 stimuli with their responses and a CMAP size is needed")
    o = np.argsort(s)
    s, y = s[o], y[o]
    w = max(3, s.size // 20)
    med = np.array([np.median(y[max(0, i - w // 2) : i + w // 2 + 1]) for i in range(s.size)])
    out = []
    for p in targets:
        hit = np.flatnonzero(med >= p / 100.0 * cmap_uv)
        if hit.size == 0:
            raise UsageError(f"the scan never reaches {p:g} % of the CMAP")
        out.append(float(s[hit[0]]))
    return out
