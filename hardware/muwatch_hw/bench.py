"""What the HIL bench should measure: the tone amplitude at the ADS1299 input after the
attenuator and the ADS1299's sinc3 decimation filter, at a given output data rate.

Reads hardware/hil_bench.toml. The HIL suite (tests/hil) can import this module by path, as
tests/hardware does, or repeat the two formulas below.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "hil_bench.toml"


@dataclass(frozen=True)
class Bench:
    amplitude_vpp: float
    tones_hz: tuple[float, ...]
    ratio: float
    signal_channel: int
    shorted_channels: tuple[int, ...]
    gain: int
    vref: float
    modulator_hz: float
    tolerance: float
    trigger_jitter_samples: int


def load(path: Path = BENCH) -> Bench:
    with open(path, "rb") as f:
        d = tomllib.load(f)
    att = d["attenuator"]
    return Bench(
        amplitude_vpp=d["generator"]["amplitude_vpp"],
        tones_hz=tuple(d["generator"]["tones_hz"]),
        ratio=attenuation(att["r_a_ohm"], att["r_b_ohm"], att["r_s_ohm"]),
        signal_channel=d["sensor"]["signal_channel"],
        shorted_channels=tuple(d["sensor"]["shorted_channels"]),
        gain=d["sensor"]["gain"],
        vref=d["sensor"]["vref"],
        modulator_hz=d["sensor"]["modulator_hz"],
        tolerance=d["tolerance"]["total"],
        trigger_jitter_samples=d["tolerance"]["trigger_jitter_samples"],
    )


def attenuation(r_a: float, r_b: float, r_s: float) -> float:
    """Differential divider: the generator drives R_A + R_S + R_B, the sensor reads R_S.
    The sensor's inputs (100 kohm lead resistors into a CMOS PGA) do not load R_S."""
    return r_s / (r_a + r_b + r_s)


def sinc3_gain(f_hz: float, rate_hz: float, modulator_hz: float) -> float:
    """|H(f)| of the ADS1299's sinc3 decimator, decimation N = f_mod / rate (SBAS499C,
    digital decimation filter): |sin(pi f N / f_mod) / (N sin(pi f / f_mod))|^3."""
    n = modulator_hz / rate_hz
    x = math.pi * f_hz / modulator_hz
    return abs(math.sin(n * x) / (n * math.sin(x))) ** 3


def expected_uvpp(bench: Bench, f_hz: float, rate_hz: float) -> float:
    """Peak-to-peak amplitude (microvolts, input-referred) the sensor should report."""
    return bench.amplitude_vpp * bench.ratio * sinc3_gain(f_hz, rate_hz, bench.modulator_hz) * 1e6


def full_scale_uv(bench: Bench) -> float:
    """Input range +-VREF/gain, in microvolts."""
    return bench.vref / bench.gain * 1e6


def usable_tones(bench: Bench, rate_hz: float) -> tuple[float, ...]:
    """Tones well inside the pass band (<= 0.4 x rate): higher ones alias."""
    return tuple(f for f in bench.tones_hz if f <= 0.4 * rate_hz)


def lead_noise_uvrms(rate_hz: float, lead_ohm: float = 100e3, temp_k: float = 298.0) -> float:
    """Thermal noise of the two lead resistors of a channel over the ADS1299 bandwidth
    (-3 dB at 0.262 x rate, SBAS499C): the floor a shorted bench channel cannot beat."""
    k_b = 1.380649e-23
    return math.sqrt(4 * k_b * temp_k * 2 * lead_ohm * 0.262 * rate_hz) * 1e6
