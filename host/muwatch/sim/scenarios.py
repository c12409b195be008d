"""Scenario presets by name: a subject (muscle, ageing, disease), a recording and its noise.

`simulate("needle-steady", seconds=10, fs=20000, seed=3, peak_snr_db=15)` builds the pool and
runs the recording; keyword overrides replace scenario fields or NoiseConfig fields.
`scenario_names()` lists them; `describe()` gives one line each (also in docs/simulator.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from muwatch.errors import UsageError
from muwatch.sim import force as forces
from muwatch.sim.noise import NoiseConfig
from muwatch.sim.pool import MotorUnitPool, age_pool, make_pool, myopathic_pool
from muwatch.sim.recording import Recording

Kind = str  # "voluntary" (a force profile) or "session" (a schedule of phases)


@dataclass(frozen=True)
class Scenario:
    """Everything that defines a simulated recording except its seed."""

    name: str
    description: str
    kind: Kind = "voluntary"
    muscle: str = "ADM"
    n_units: int | None = None
    loss: float = 0.0  # ageing: fraction of units lost (with collateral reinnervation)
    adoption: float = 0.6
    myopathy: float = 0.0  # fraction of fibres lost in a myopathy-like pool
    jitter_us: float | None = None  # None: the muscle's normal value
    block_prob: float = 0.0
    layout: str = "array8"
    force_pct: float = 20.0
    profile: str = "steady"  # steady | ramp | trapezoid | graded | mvc | rest
    fs: float = 4000.0
    seconds: float = 10.0
    noise: NoiseConfig = field(default_factory=lambda: NoiseConfig(snr_db=20.0))
    options: tuple[tuple[str, Any], ...] = ()

    def pool(self, seed: int) -> MotorUnitPool:
        """The subject's motor-unit pool for this seed."""
        p = make_pool(self.muscle, self.n_units, seed, jitter_us=self.jitter_us)
        if self.loss > 0:
            p = age_pool(p, self.loss, adoption=self.adoption, seed=seed)
        if self.myopathy > 0:
            p = myopathic_pool(p, self.myopathy, seed=seed)
        if self.block_prob > 0:
            p = dataclasses.replace(p, block_prob=p.block_prob + self.block_prob)
        return p

    def force_profile(self, seconds: float) -> forces.ForceProfile:
        """The force profile, fitted to `seconds`."""
        p = self.force_pct
        if self.profile == "steady":
            prof = forces.steady(p, seconds)
        elif self.profile == "ramp":
            prof = forces.ramp(0.0, p, seconds)
        elif self.profile == "trapezoid":
            prof = forces.trapezoid(p, seconds * 0.25, seconds * 0.5, seconds * 0.25)
        elif self.profile == "graded":
            prof = forces.graded()
        elif self.profile == "mvc":
            prof = forces.rest(1.0) + forces.mvc(max(seconds - 2.0, 1.0)) + forces.rest(1.0)
        elif self.profile == "rest":
            prof = forces.rest(seconds)
        else:
            raise UsageError(f"unknown force profile {self.profile!r}")
        return prof.fitted(seconds)


_NEEDLE_NOISE = NoiseConfig(peak_snr_db=20.0)

_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("surface-steady", "healthy ADM, 8 surface channels, steady 20% MVC, SNR 20 dB"),
        Scenario(
            "surface-ramp",
            "healthy ADM, 8 surface channels, trapezoid to 60% MVC (recruitment order)",
            force_pct=60.0,
            profile="trapezoid",
            seconds=20.0,
        ),
        Scenario(
            "surface-aged",
            "aged ADM: 40% of units lost, survivors adopt 60% of orphaned fibres; steady 20% MVC",
            loss=0.4,
        ),
        Scenario(
            "surface-noisy",
            "healthy ADM at 20% MVC with mains, baseline wander, motion artifacts and electrode pops",
            noise=NoiseConfig(
                snr_db=15.0, mains_uv=20.0, wander_uv=50.0, motion_per_min=4.0, pops_per_min=2.0
            ),
        ),
        Scenario(
            "needle-steady",
            "healthy ADM, concentric needle at 20 kHz, 10% MVC, peak SNR 20 dB",
            layout="needle",
            force_pct=10.0,
            fs=20000.0,
            noise=_NEEDLE_NOISE,
        ),
        Scenario(
            "needle-aged",
            "aged ADM (40% loss, reinnervation): larger polyphasic needle MUAPs, more jitter",
            layout="needle",
            force_pct=10.0,
            fs=20000.0,
            loss=0.4,
            noise=_NEEDLE_NOISE,
        ),
        Scenario(
            "nmj-instability",
            "ADM with unstable NMJs: jitter 80 us, 10% impulse blocking (jiggle), needle 20 kHz",
            layout="needle",
            force_pct=10.0,
            fs=20000.0,
            jitter_us=80.0,
            block_prob=0.1,
            noise=_NEEDLE_NOISE,
        ),
        Scenario(
            "myopathy",
            "myopathy-like ADM: half the fibres lost, small short polyphasic needle MUAPs",
            layout="needle+belly",
            force_pct=10.0,
            fs=20000.0,
            myopathy=0.5,
            noise=_NEEDLE_NOISE,
        ),
    )
}

_RUNNERS: dict[str, Callable[..., Recording]] = {}


def register_kind(kind: str, runner: Callable[..., Recording]) -> None:
    """Let a module provide the runner of a scenario kind (evoked, session)."""
    _RUNNERS[kind] = runner


def register(s: Scenario) -> None:
    """Add (or replace) a scenario preset."""
    _SCENARIOS[s.name] = s


def scenario_names() -> tuple[str, ...]:
    """Names of the presets."""
    _load_kinds()
    return tuple(_SCENARIOS)


def describe() -> dict[str, str]:
    """One-line description of each preset."""
    _load_kinds()
    return {k: v.description for k, v in _SCENARIOS.items()}


def get_scenario(name: str | Scenario) -> Scenario:
    """The preset called `name`; a clear error lists the known ones."""
    _load_kinds()
    if isinstance(name, Scenario):
        return name
    if name not in _SCENARIOS:
        raise UsageError(f"unknown scenario {name!r}; known scenarios: {', '.join(_SCENARIOS)}")
    return _SCENARIOS[name]


def _load_kinds() -> None:
    # Evoked and session scenarios live in their own modules and register themselves.
    import muwatch.sim.evoked  # noqa: F401
    import muwatch.sim.session  # noqa: F401


def with_overrides(s: Scenario, **overrides: Any) -> Scenario:
    """The scenario with fields (or NoiseConfig fields) replaced; unknown names are errors."""
    fields = {f.name for f in dataclasses.fields(Scenario)}
    noise_fields = {f.name for f in dataclasses.fields(NoiseConfig)}
    direct = {k: v for k, v in overrides.items() if k in fields}
    noisy = {k: v for k, v in overrides.items() if k in noise_fields and k not in fields}
    unknown = set(overrides) - set(direct) - set(noisy)
    if unknown:
        raise UsageError(
            f"unknown scenario option(s) {sorted(unknown)}; scenario fields: {', '.join(sorted(fields))}; "
            f"noise fields: {', '.join(sorted(noise_fields))}"
        )
    if "snr_db" in noisy and "peak_snr_db" not in noisy:
        noisy["peak_snr_db"] = None
    if "peak_snr_db" in noisy and "snr_db" not in noisy:
        noisy["snr_db"] = None
    out = dataclasses.replace(s, **direct)
    if noisy:
        out = dataclasses.replace(out, noise=dataclasses.replace(out.noise, **noisy))
    return out


def simulate(
    scenario: str | Scenario,
    *,
    seconds: float | None = None,
    fs: float | None = None,
    seed: int = 0,
    pool_seed: int | None = None,
    shift_mm: float = 0.0,
    **overrides: Any,
) -> Recording:
    """Run a scenario preset (or a Scenario) and return its Recording with ground truth.

    `seed` drives firing, noise and everything random in the recording; the subject's pool is
    built from `pool_seed` (default: `seed`), so one subject can be recorded many times.
    `shift_mm` moves the electrodes sideways (re-application between sessions).
    """
    s = with_overrides(get_scenario(scenario), **overrides)
    seconds = s.seconds if seconds is None else float(seconds)
    fs = s.fs if fs is None else float(fs)
    if s.kind == "voluntary":
        from muwatch.sim.emg import simulate_emg
        from muwatch.sim.layout import make_layout
        from muwatch.sim.muscles import muscle

        return simulate_emg(
            s.pool(seed if pool_seed is None else pool_seed),
            s.force_profile(seconds),
            seconds=seconds,
            fs=fs,
            layout=make_layout(s.layout, muscle(s.muscle), shift_mm=shift_mm),
            noise=s.noise,
            seed=seed,
            scenario=s.name,
        )
    if s.kind not in _RUNNERS:
        raise UsageError(f"scenario kind {s.kind!r} has no runner")
    return _RUNNERS[s.kind](
        s, seconds=seconds, fs=fs, seed=seed, pool_seed=pool_seed, shift_mm=shift_mm
    )
