"""Named muscle presets: the anatomy and normal values a simulated pool is built from.

Values marked [check] in docs/simulator.md are typical textbook figures, not taken from one
primary paper; the CMAP ranges are the normal ranges the simulated CMAP is *checked* against,
never a target it is scaled to (the CMAP emerges from unit count, S-MUP sizes and dispersion).
"""

from __future__ import annotations

from dataclasses import dataclass

from muwatch.errors import UsageError


@dataclass(frozen=True)
class Muscle:
    """Anatomy and physiology of one muscle as the simulator needs it (SI units)."""

    name: str
    long_name: str
    n_units: int  # motor units in a young adult
    smup_mean_v: float  # mean surface MUP negative-peak amplitude over the belly
    cmap_range_v: tuple[float, float]  # normal supramaximal CMAP negative-peak amplitude
    innervation_ratio: int  # mean muscle fibres per unit
    width_mm: float  # lateral extent of the muscle under the electrodes
    depth_mm: tuple[float, float]  # depth range of unit territory centres below the skin
    conduction_mm: float  # stimulation site to motor point
    axon_cv_m_s: tuple[float, float]  # conduction velocity of the smallest / largest unit
    nmj_delay_s: float  # terminal conduction + NMJ delay added to every latency
    muap_width_s: float  # Hermite-Rodriguez scale of a superficial surface MUAP
    jitter_us: float  # normal concentric-needle jitter (MCD)
    stim_threshold_ma: tuple[float, float]  # Bostock 2016: mean and SD of unit thresholds


_MUSCLES: dict[str, Muscle] = {
    m.name: m
    for m in (
        Muscle(
            name="ADM",
            long_name="abductor digiti minimi (ulnar nerve at the wrist)",
            n_units=160,
            smup_mean_v=62.5e-6,
            cmap_range_v=(6e-3, 12e-3),
            innervation_ratio=250,
            width_mm=14.0,
            depth_mm=(3.0, 11.0),
            conduction_mm=80.0,
            axon_cv_m_s=(45.0, 65.0),
            nmj_delay_s=1.0e-3,
            muap_width_s=1.6e-3,
            jitter_us=30.0,
            stim_threshold_ma=(26.5, 2.0),
        ),
        Muscle(
            name="APB",
            long_name="abductor pollicis brevis (median nerve at the wrist)",
            n_units=170,
            smup_mean_v=60.0e-6,
            cmap_range_v=(6e-3, 12e-3),
            innervation_ratio=200,
            width_mm=14.0,
            depth_mm=(3.0, 10.0),
            conduction_mm=80.0,
            axon_cv_m_s=(45.0, 65.0),
            nmj_delay_s=1.2e-3,
            muap_width_s=1.6e-3,
            jitter_us=30.0,
            stim_threshold_ma=(24.0, 2.0),
        ),
        Muscle(
            name="TA",
            long_name="tibialis anterior (fibular nerve below the fibular head)",
            n_units=150,
            smup_mean_v=45.0e-6,
            cmap_range_v=(4e-3, 8e-3),
            innervation_ratio=560,
            width_mm=25.0,
            depth_mm=(4.0, 18.0),
            conduction_mm=100.0,
            axon_cv_m_s=(40.0, 55.0),
            nmj_delay_s=1.0e-3,
            muap_width_s=2.0e-3,
            jitter_us=37.0,
            stim_threshold_ma=(30.0, 3.0),
        ),
        Muscle(
            name="biceps",
            long_name="biceps brachii (musculocutaneous nerve at Erb's point)",
            n_units=200,
            smup_mean_v=40.0e-6,
            cmap_range_v=(4e-3, 12e-3),
            innervation_ratio=750,
            width_mm=35.0,
            depth_mm=(5.0, 25.0),
            conduction_mm=200.0,
            axon_cv_m_s=(50.0, 70.0),
            nmj_delay_s=1.0e-3,
            muap_width_s=2.2e-3,
            jitter_us=25.0,
            stim_threshold_ma=(35.0, 4.0),
        ),
    )
}


def muscle(name: str | Muscle) -> Muscle:
    """The preset called `name` (case-insensitive); a clear error lists the known ones."""
    if isinstance(name, Muscle):
        return name
    for key, value in _MUSCLES.items():
        if key.lower() == str(name).lower():
            return value
    raise UsageError(f"unknown muscle {name!r}; known muscles: {', '.join(_MUSCLES)}")


def muscle_names() -> tuple[str, ...]:
    """Names of the muscle presets."""
    return tuple(_MUSCLES)
