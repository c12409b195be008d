"""A whole recording session from a schedule of phases, as one continuous multi-channel signal.

Phases: Rest, MVC, Steady (% MVC), Ramp, Stimuli (single stimuli, supramaximal by default) and
Scan (a CMAP-scan sweep, descending intensity). Voluntary phases drive the Fuglevand pool;
stimulus phases are at rest and add evoked MUAPs (surface channels) and stimulus artifacts
(every channel) at the trigger times. Every phase and every stimulus becomes an annotation;
the truth lists the triggers with their intensity and which units fired.

`simulate_repeats` gives repeated sessions of one subject: same pool, new noise and firing,
electrodes replaced a little differently each time (for test-retest CV).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from muwatch.errors import UsageError
from muwatch.sim import force as forces
from muwatch.sim.emg import check_fs, finish, render_voluntary
from muwatch.sim.evoked import (
    add_artifact,
    artifact_size,
    cmap_geometry,
    cmap_truth,
    fire_probability,
    scan_intensities,
    supramaximal_ma,
)
from muwatch.sim.firing import CONTROL_DT, spike_trains
from muwatch.sim.layout import Layout, make_layout
from muwatch.sim.muap import render_events
from muwatch.sim.muscles import muscle
from muwatch.sim.noise import NoiseConfig
from muwatch.sim.pool import MotorUnitPool
from muwatch.sim.recording import Annotation, Recording
from muwatch.sim.scenarios import Scenario, register, register_kind


@dataclass(frozen=True)
class Rest:
    seconds: float
    label: str = "rest"

    @property
    def duration(self) -> float:
        return float(self.seconds)


@dataclass(frozen=True)
class MVC:
    seconds: float = 3.0
    rise: float = 0.5
    label: str = "MVC"

    @property
    def duration(self) -> float:
        return float(self.seconds)


@dataclass(frozen=True)
class Steady:
    pct: float
    seconds: float
    label: str = ""

    @property
    def duration(self) -> float:
        return float(self.seconds)


@dataclass(frozen=True)
class Ramp:
    start_pct: float
    end_pct: float
    seconds: float
    label: str = ""

    @property
    def duration(self) -> float:
        return float(self.seconds)


@dataclass(frozen=True)
class Stimuli:
    """`n` single stimuli `interval_s` apart (first after `lead_s`); None = supramaximal."""

    n: int = 5
    intensity_ma: float | None = None
    interval_s: float = 1.0
    lead_s: float = 0.5
    label: str = "supramaximal stimuli"

    @property
    def duration(self) -> float:
        return self.lead_s + self.n * self.interval_s


@dataclass(frozen=True)
class Scan:
    """A CMAP scan: `n` stimuli from supramaximal down to subthreshold (or over `range_ma`)."""

    n: int = 450
    range_ma: tuple[float, float] | None = None
    interval_s: float = 0.5
    lead_s: float = 0.5
    label: str = "CMAP scan"

    @property
    def duration(self) -> float:
        return self.lead_s + self.n * self.interval_s


Phase = Rest | MVC | Steady | Ramp | Stimuli | Scan


def _force_of(ph: Phase) -> forces.ForceProfile:
    if isinstance(ph, Rest):
        return forces.ForceProfile((forces.Segment(ph.seconds, 0.0, 0.0, ph.label),))
    if isinstance(ph, MVC):
        return forces.mvc(ph.seconds, ph.rise)
    if isinstance(ph, Steady):
        return forces.ForceProfile(
            (forces.Segment(ph.seconds, ph.pct, ph.pct, ph.label or f"steady {ph.pct:g}% MVC"),)
        )
    if isinstance(ph, Ramp):
        return forces.ForceProfile(
            (
                forces.Segment(
                    ph.seconds,
                    ph.start_pct,
                    ph.end_pct,
                    ph.label or f"ramp {ph.start_pct:g}-{ph.end_pct:g}% MVC",
                ),
            )
        )
    return forces.ForceProfile((forces.Segment(ph.duration, 0.0, 0.0, ph.label),))


def _check_schedule(schedule: Sequence[Phase]) -> None:
    if not schedule:
        raise UsageError("a session needs at least one phase")
    for ph in schedule:
        if not isinstance(ph, Rest | MVC | Steady | Ramp | Stimuli | Scan):
            raise UsageError(f"not a session phase: {ph!r}")
        if isinstance(ph, Stimuli | Scan):
            if ph.n < 1 or ph.interval_s <= 0 or ph.lead_s < 0:
                raise UsageError(f"{ph.label}: needs n >= 1, interval > 0, lead >= 0")
        elif ph.duration <= 0:
            raise UsageError(f"{ph.label or type(ph).__name__}: duration must be > 0 s")


def simulate_session(
    pool: MotorUnitPool,
    schedule: Sequence[Phase],
    *,
    fs: float = 4000.0,
    layout: str | Layout = "array8",
    noise: NoiseConfig | None = None,
    seed: int = 0,
    seconds: float | None = None,
    artifact_v: float = 20e-3,
    scenario: str = "session",
) -> Recording:
    """Render a schedule as one continuous recording with phase and stimulus annotations.

    `seconds` (optional) cuts the session, dropping stimuli after the end, or pads it with rest.
    """
    fs = check_fs(fs)
    _check_schedule(schedule)
    lay = make_layout(layout, pool.muscle) if isinstance(layout, str) else layout
    noise = NoiseConfig() if noise is None else noise
    segs: list[forces.Segment] = []
    stims: list[tuple[float, float, str]] = []  # (t, intensity, phase label)
    phases: list[dict[str, Any]] = []
    t = 0.0
    supra = supramaximal_ma(pool)
    for ph in schedule:
        prof = _force_of(ph)
        segs.extend(prof.segments)
        phases.append(
            {
                "kind": type(ph).__name__,
                "onset_s": t,
                "duration_s": ph.duration,
                "label": ph.label or prof.segments[0].label,
            }
        )
        if isinstance(ph, Stimuli):
            level = supra if ph.intensity_ma is None else float(ph.intensity_ma)
            stims += [(t + ph.lead_s + k * ph.interval_s, level, ph.label) for k in range(ph.n)]
        elif isinstance(ph, Scan):
            levels = scan_intensities(pool.threshold_ma, pool.rel_spread, ph.n, ph.range_ma)
            stims += [
                (t + ph.lead_s + k * ph.interval_s, float(s), ph.label)
                for k, s in enumerate(levels)
            ]
        t += ph.duration
    total = t if seconds is None else float(seconds)
    if not 0 < total <= 3600:
        raise UsageError(f"session duration must be in (0, 3600] s, got {total:g}")
    profile = forces.ForceProfile(tuple(segs)).fitted(total)
    dropped = [s for s in stims if s[0] >= total - 0.05]
    stims = [s for s in stims if s[0] < total - 0.05]
    n = int(round(total * fs))
    grid = np.arange(int(np.ceil(total / CONTROL_DT))) * CONTROL_DT
    trains = spike_trains(pool, pool.excitation_for(profile.at(grid)), CONTROL_DT, seed=seed)
    data, truth = render_voluntary(pool, trains, lay, fs, n, seed=seed, scenario=scenario)
    stim_truth = _render_stimuli(data, fs, pool, lay, stims, seed, artifact_v)
    finish(data, truth, noise, fs, seed)
    truth["stimuli"] = stim_truth
    truth["stimuli_dropped_after_end"] = len(dropped)
    truth["phases"] = phases
    truth["cmap"] = cmap_truth(pool, lay, fs)
    truth["force"] = {
        "segments": [
            {"onset_s": a, "duration_s": d, "label": lab} for a, d, lab in profile.annotations()
        ],
        "e_max": pool.e_max,
    }
    ann = [
        Annotation(p["onset_s"], min(p["duration_s"], max(total - p["onset_s"], 0.0)), p["label"])
        for p in phases
        if p["onset_s"] < total
    ]
    ann += [Annotation(s["t_s"], 0.0, f"stimulus {s['intensity_ma']:.2f} mA") for s in stim_truth]
    ann += [
        Annotation(e["onset_s"], e["duration_s"], f"artifact: {e['kind']}")
        for e in truth["artifacts"]
    ]
    ann.sort(key=lambda a: (a.onset, a.text))
    rec = Recording(
        data, fs, lay.names, tuple(e.kind for e in lay.electrodes), ann, truth, scenario, seed
    )
    rec.extras["triggers"] = [s["t_s"] for s in stim_truth]
    return rec


def _render_stimuli(
    data: np.ndarray,
    fs: float,
    pool: MotorUnitPool,
    lay: Layout,
    stims: list[tuple[float, float, str]],
    seed: int,
    artifact_v: float,
) -> list[dict[str, Any]]:
    if not stims:
        return []
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 60])
    t_s = np.array([s[0] for s in stims])
    level = np.array([s[1] for s in stims])
    p = fire_probability(level, pool.threshold_ma, pool.rel_spread)
    fired = rng.uniform(size=p.shape) < p
    amps, widths, delay, centre = cmap_geometry(pool, lay)
    si, ui = np.nonzero(fired)
    lat = pool.latency_s[ui] + rng.normal(0.0, 20e-6, ui.size)
    render_events(
        data,
        fs,
        t_s[si] + lat,
        amps[ui],
        widths[ui],
        kind="surface",
        shape_b=pool.shape_b[ui],
        centre_s=centre[ui],
        delay_s=delay[ui],
    )
    art = artifact_size(lay, artifact_v)
    for ts in t_s:
        add_artifact(data, fs, float(ts), art)
    sidx = lay.of_kind("surface")
    ref = sidx[0] if sidx else None
    out = []
    for k, (ts, lv, lab) in enumerate(stims):
        ids = pool.ids[fired[k]]
        out.append(
            {
                "t_s": ts,
                "intensity_ma": lv,
                "phase": lab,
                "n_fired": int(ids.size),
                "fired_ids": ids,
                "response_v": float(amps[fired[k], ref].sum()) if ref is not None else None,
            }
        )
    return out


GUIDED_SCHEDULE: tuple[Phase, ...] = (
    Rest(5.0, "rest (baseline)"),
    MVC(3.0),
    Rest(5.0, "rest after MVC"),
    Steady(10.0, 6.0, "steady 10% MVC"),
    Rest(3.0),
    Steady(30.0, 6.0, "steady 30% MVC"),
    Rest(3.0),
    Ramp(0.0, 60.0, 6.0, "ramp 0-60% MVC"),
    Rest(3.0),
    Stimuli(5, None, 1.0, 0.5, "supramaximal stimuli"),
    Rest(2.0),
    Scan(100, None, 0.3, 0.5, "CMAP scan"),
    Rest(2.0),
)

MUNIX_SCHEDULE: tuple[Phase, ...] = (
    Rest(1.0),
    Stimuli(3, None, 1.0, 0.5, "supramaximal stimuli"),
    Rest(1.0),
    *[
        ph
        for pct in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
        for ph in (Steady(float(pct), 2.5, f"SIP {pct}% MVC"), Rest(1.5))
    ],
)


def _run(
    s: Scenario,
    *,
    seconds: float | None,
    fs: float,
    seed: int,
    pool_seed: int | None = None,
    shift_mm: float = 0.0,
) -> Recording:
    schedule = dict(s.options).get("schedule")
    if schedule is None:
        raise UsageError(f"scenario {s.name!r} has no schedule")
    lay = make_layout(s.layout, muscle(s.muscle), shift_mm=shift_mm)
    return simulate_session(
        s.pool(seed if pool_seed is None else pool_seed),
        schedule,
        fs=fs,
        layout=lay,
        noise=s.noise,
        seed=seed,
        seconds=seconds,
        scenario=s.name,
    )


def simulate_repeats(
    scenario: str | Scenario,
    n_sessions: int,
    *,
    subject_seed: int = 0,
    shift_sd_mm: float = 2.0,
    seconds: float | None = None,
    fs: float | None = None,
    **overrides: Any,
) -> list[Recording]:
    """Repeated sessions of one subject: same pool; new firing, noise and electrode placement.

    Electrodes are moved sideways by N(0, shift_sd_mm) each session (reapplied by the user).
    """
    from muwatch.sim.scenarios import simulate

    if n_sessions < 1:
        raise UsageError("n_sessions must be >= 1")
    rng = np.random.default_rng([int(subject_seed) & 0xFFFFFFFF, 70])
    shifts = rng.normal(0.0, shift_sd_mm, n_sessions)
    recs = []
    for k in range(n_sessions):
        rec = simulate(
            scenario,
            seconds=seconds,
            fs=fs,
            seed=subject_seed * 1000 + k + 1,
            pool_seed=subject_seed,
            shift_mm=float(shifts[k]),
            **overrides,
        )
        rec.truth["session"] = {
            "subject_seed": subject_seed,
            "index": k,
            "shift_mm": float(shifts[k]),
        }
        recs.append(rec)
    return recs


_QUIET = NoiseConfig(floor_uv_rms=2.0)  # electrode + amplifier noise of a good surface recording
register_kind("session", _run)
for _s in (
    Scenario(
        "cmap",
        "ADM, belly electrode: 5 supramaximal stimuli at 1 Hz with stimulus artifacts (CMAP)",
        kind="session",
        layout="belly",
        seconds=6.0,
        noise=_QUIET,
        options=(("schedule", (Stimuli(5, None, 1.0, 0.5),)),),
    ),
    Scenario(
        "cmap-scan",
        "ADM, belly electrode: CMAP scan of 450 stimuli, supramaximal to subthreshold, 2 Hz (Bostock 2016)",
        kind="session",
        layout="belly",
        seconds=225.5,
        noise=NoiseConfig(floor_uv_rms=5.0),
        options=(("schedule", (Scan(450, None, 0.5, 0.5),)),),
    ),
    Scenario(
        "munix",
        "ADM, belly electrode: 3 supramaximal CMAPs, then SIP epochs at 10-100% MVC (MUNIX input)",
        kind="session",
        layout="belly",
        seconds=sum(p.duration for p in MUNIX_SCHEDULE),
        noise=_QUIET,
        options=(("schedule", MUNIX_SCHEDULE),),
    ),
    Scenario(
        "guided-session",
        "the guided home session on 8 channels: rest, MVC, steady 10/30% MVC, ramp, 5 supramaximal stimuli, 100-stimulus CMAP scan",
        kind="session",
        layout="array8",
        seconds=sum(p.duration for p in GUIDED_SCHEDULE),
        noise=NoiseConfig(floor_uv_rms=2.0, mains_uv=5.0, wander_uv=20.0),
        options=(("schedule", GUIDED_SCHEDULE),),
    ),
):
    register(_s)

__all__ = [
    "GUIDED_SCHEDULE",
    "MUNIX_SCHEDULE",
    "MVC",
    "Phase",
    "Ramp",
    "Rest",
    "Scan",
    "Steady",
    "Stimuli",
    "simulate_repeats",
    "simulate_session",
]


def simulate_cmap(
    pool: MotorUnitPool,
    *,
    n_stimuli: int = 1,
    intensity_ma: float | None = None,
    interval_s: float = 1.0,
    fs: float = 10000.0,
    layout: str | Layout = "belly",
    noise: NoiseConfig | None = None,
    artifact_v: float = 20e-3,
    seed: int = 0,
) -> Recording:
    """Evoked CMAP recording: `n_stimuli` stimuli (supramaximal unless `intensity_ma`) at rest.

    The clean CMAP's amplitude, areas and power are in `truth["cmap"]`; the triggers in
    `truth["stimuli"]` and `extras["triggers"]`.
    """
    return simulate_session(
        pool,
        (Stimuli(n_stimuli, intensity_ma, interval_s, 0.1),),
        fs=fs,
        layout=layout,
        noise=NoiseConfig(floor_uv_rms=2.0) if noise is None else noise,
        seed=seed,
        artifact_v=artifact_v,
        scenario="cmap",
    )
