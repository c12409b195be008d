"""Ground-truth simulator: motor-unit pools, surface and needle EMG, ADS1299 codes.

Small public API (everything deterministic for a given seed):

    from muwatch import sim
    pool = sim.make_pool("ADM", seed=1)                  # Fuglevand 1993 pool, named muscle
    rec = sim.simulate_emg(pool, sim.steady(20, 10), fs=4000, layout="array8",
                           noise=sim.NoiseConfig(snr_db=20), seed=1)
    rec.data            # (channels, samples) volts;  rec.truth: JSON-able ground truth
    codes = sim.to_ads1299_codes(rec.data, gain=24)       # (samples, 8) int32
    sim.write_signal_source("out/adm", codes, rec.fs, {"gain": 24, "channels": rec.channels})

    sim.simulate("guided-session", seed=3)               # scenario presets by name (sim.describe())
    sim.simulate_cmap(pool); sim.simulate_cmap_scan(pool); sim.degeneration_series()
    sim.simulate_session(pool, [sim.Rest(5), sim.MVC(3), sim.Steady(20, 10), sim.Stimuli(5)])
    sim.write_bdf(rec, "out/adm.bdf")                     # BDF+ with annotations + _truth.json

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
from muwatch.sim.evoked import (
    CmapScan,
    cmap_measures,
    cmap_waveform,
    degeneration_series,
    fire_probability,
    simulate_cmap_scan,
)
from muwatch.sim.export import save_recording, truth_path, write_bdf
from muwatch.sim.force import ForceProfile, graded, mvc, ramp, rest, steady, trapezoid
from muwatch.sim.layout import Electrode, Layout, make_layout
from muwatch.sim.muscles import Muscle, muscle, muscle_names
from muwatch.sim.noise import CLEAN, NoiseConfig
from muwatch.sim.pool import MotorUnitPool, age_pool, make_pool, myopathic_pool
from muwatch.sim.recording import Annotation, Recording, read_truth, write_truth
from muwatch.sim.scenarios import Scenario, describe, get_scenario, scenario_names, simulate
from muwatch.sim.session import (
    GUIDED_SCHEDULE,
    MUNIX_SCHEDULE,
    MVC,
    Ramp,
    Rest,
    Scan,
    Steady,
    Stimuli,
    simulate_cmap,
    simulate_repeats,
    simulate_session,
)

__all__ = [
    "CLEAN",
    "GUIDED_SCHEDULE",
    "MUNIX_SCHEDULE",
    "MVC",
    "Annotation",
    "CmapScan",
    "Electrode",
    "ForceProfile",
    "Layout",
    "MotorUnitPool",
    "Muscle",
    "NoiseConfig",
    "Ramp",
    "Recording",
    "Rest",
    "SaturationWarning",
    "Scan",
    "Scenario",
    "SignalSource",
    "Steady",
    "Stimuli",
    "age_pool",
    "cmap_measures",
    "cmap_waveform",
    "degeneration_series",
    "describe",
    "fire_probability",
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
    "save_recording",
    "scenario_names",
    "simulate",
    "simulate_cmap",
    "simulate_cmap_scan",
    "simulate_emg",
    "simulate_repeats",
    "simulate_session",
    "steady",
    "to_ads1299_codes",
    "trapezoid",
    "truth_path",
    "write_bdf",
    "write_signal_source",
    "write_truth",
]
