"""Ground-truth simulator: motor-unit pools, surface and needle EMG, ADS1299 codes.

Small public API (everything deterministic for a given seed):

    from muwatch import sim
    pool = sim.make_pool("ADM", seed=1)                  # Fuglevand 1993 pool, named muscle
    rec = sim.simulate_emg(pool, sim.steady(20, 10), fs=4000, layout="array8",
                           noise=sim.NoiseConfig(snr_db=20), seed=1)
    rec.data            # (channels, samples) volts;  rec.truth: JSON-able ground truth
    codes = sim.to_ads1299_codes(rec.data, gain=24)       # (samples, 8) int32
    sim.write_signal_source("out/adm", codes, rec.fs, {"gain": 24, "channels": rec.channels})

See docs/simulator.md for the model, its parameters and their sources.
"""

from __future__ import annotations

from muwatch.sim.ads1299 import (
    SaturationWarning,
    SignalSource,
    from_ads1299_codes,
    lsb_volts,
    read_signal_source,
    to_ads1299_codes,
    write_signal_source,
)
from muwatch.sim.emg import simulate_emg
from muwatch.sim.force import ForceProfile, graded, mvc, ramp, rest, steady, trapezoid
from muwatch.sim.layout import Electrode, Layout, make_layout
from muwatch.sim.muscles import Muscle, muscle, muscle_names
from muwatch.sim.noise import CLEAN, NoiseConfig
from muwatch.sim.pool import MotorUnitPool, age_pool, make_pool, myopathic_pool
from muwatch.sim.recording import Annotation, Recording, read_truth, write_truth
from muwatch.sim.scenarios import Scenario, describe, get_scenario, scenario_names, simulate

__all__ = [
    "CLEAN",
    "Annotation",
    "Electrode",
    "ForceProfile",
    "Layout",
    "MotorUnitPool",
    "Muscle",
    "NoiseConfig",
    "Recording",
    "Scenario",
    "SaturationWarning",
    "SignalSource",
    "age_pool",
    "describe",
    "from_ads1299_codes",
    "get_scenario",
    "graded",
    "lsb_volts",
    "make_layout",
    "make_pool",
    "muscle",
    "muscle_names",
    "mvc",
    "myopathic_pool",
    "ramp",
    "read_signal_source",
    "read_truth",
    "rest",
    "scenario_names",
    "simulate",
    "simulate_emg",
    "steady",
    "to_ads1299_codes",
    "trapezoid",
    "write_signal_source",
    "write_truth",
]
