"""Filter design for the C core: scipy designs, quantised to the core's biquad kinds and
checked (stability, per-stage and cumulative gain) before anything reaches C.

Each second-order section becomes the cheapest kind that realises it faithfully: Q15 when its
rounding-noise gain is small and 16-bit coefficients leave its response within 1 %; Q31 with
32-bit state (`mw_biquad_q31`, same cost as Q15 on a Cortex-M4) when only the coefficients need
more bits (narrow mains notches); otherwise Q31 with 64-bit state (`mw_biquad_q31x64`), which
keeps very low high-pass corners exact (slower, and not vectorised on the host).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from muwatch.errors import UsageError

MAX_SECTIONS = 4
#: section kinds, as MW_SECTION_* in c_core/include/mw_chain.h
Q15, Q31X64, Q31 = 0, 1, 2
KIND_NAMES = {Q15: "Q15", Q31X64: "Q31x64", Q31: "Q31"}
#: Q15 and Q31 sections round y to the data LSB; the recursion amplifies that rounding noise by
#: the RMS gain of 1/A(z). The host puts signals at ~2^24 (noise >= ~2^12 LSB), the device uses
#: input_shift likewise, so a gain up to 256 leaves rounding noise < 2 % of the signal noise.
Q15_MAX_NOISE_GAIN = 256.0
Q15_MAX_RESPONSE_ERROR = 0.01
#: the host scales input to ~2^24; MW_DATA_MAX is 2^30, so a cascade may gain up to 16x
MAX_STAGE_GAIN = 2.0
MAX_CASCADE_GAIN = 16.0


class DesignError(UsageError):
    """A filter that cannot be realised safely in the fixed-point core."""


@dataclass(frozen=True)
class Section:
    """One quantised biquad: kind Q15/Q31/Q31X64, {b0, b1, b2, a1, a2} (a negated), post-shift."""

    kind: int
    coeffs: tuple[int, int, int, int, int]
    post_shift: int
    sos: tuple[float, ...]  # the float design it approximates (scipy sos row)
    name: str

    def quantised_sos(self) -> np.ndarray:
        """The realised filter as a float sos row."""
        bits = 15 if self.kind == Q15 else 31
        c = np.asarray(self.coeffs, dtype=np.float64) * 2.0 ** (self.post_shift - bits)
        return np.array([c[0], c[1], c[2], 1.0, -c[3], -c[4]])

    def pole_radius(self) -> float:
        return float(np.max(np.abs(np.roots([1.0, self.sos[4], self.sos[5]]))))

    def settle_samples(self, decay: float = 0.01) -> int:
        """Samples for the slowest mode to decay to `decay` (start-up blanking)."""
        r = self.pole_radius()
        if r <= 0.0:
            return 2
        return int(math.ceil(math.log(decay) / math.log(r))) + 2


def _post_shift(c: np.ndarray, bits: int, sum_limit_log2: int | None) -> int:
    # start at the shift the core has fast kernels for (Q15: 1, Q31: 2); a bit of precision
    # for sections with |c| < 1 costs nothing measurable
    for s in range(1 if bits == 16 else 2, 9):
        q = np.round(c * 2.0 ** (bits - 1 - s))
        if np.max(np.abs(q)) > 2 ** (bits - 1) - 1:
            continue
        if sum_limit_log2 is not None and np.sum(np.abs(q)) > 2**sum_limit_log2:
            continue
        return s
    raise DesignError(f"coefficients {c} too large for the fixed-point biquad")


def noise_gain(sos_row: np.ndarray) -> float:
    """RMS gain of 1/A(z) (how much the recursion amplifies white rounding noise)."""
    a1, a2 = float(sos_row[4]), float(sos_row[5])
    r = float(np.max(np.abs(np.roots([1.0, a1, a2]))))
    if r >= 1.0:
        return math.inf
    n = int(min(2_000_000, max(64, 20.0 / max(1e-12, 1.0 - r))))
    imp = np.zeros(n)
    imp[0] = 1.0
    h = signal.lfilter([1.0], [1.0, a1, a2], imp)
    return float(np.sqrt(np.sum(h * h)))


def _response_error(a: np.ndarray, b: np.ndarray) -> float:
    w = np.linspace(0.0, math.pi, 512)
    _, ha = signal.sosfreqz(a.reshape(1, 6), worN=w)
    _, hb = signal.sosfreqz(b.reshape(1, 6), worN=w)
    return float(np.max(np.abs(ha - hb)) / max(np.max(np.abs(ha)), 1e-12))


def quantise(sos_row: np.ndarray, name: str, force: int | None = None) -> Section:
    """Quantise one scipy sos row to the cheapest kind that realises it faithfully."""
    sos_row = np.asarray(sos_row, dtype=np.float64)
    sos_row = sos_row / sos_row[3]
    c = np.array([sos_row[0], sos_row[1], sos_row[2], -sos_row[4], -sos_row[5]])
    dc_block = abs(c[0] + c[1] + c[2]) < 1e-9 * max(1.0, abs(c[1]))

    def build(kind: int) -> Section:
        bits = 16 if kind == Q15 else 32
        s = _post_shift(c, bits, None if kind == Q15 else 32)
        q = np.round(c * 2.0 ** (bits - 1 - s)).astype(np.int64)
        if dc_block:  # keep an exact zero at DC, so a DC offset settles to exactly 0
            q[1] = -(q[0] + q[2])
        return Section(kind, tuple(int(v) for v in q), s, tuple(sos_row), name)  # type: ignore[arg-type]

    if force is not None:
        sec = build(force)
    else:
        ng = noise_gain(sos_row)
        sec = build(Q15)
        if ng > Q15_MAX_NOISE_GAIN:
            sec = build(Q31X64)
        elif _response_error(sos_row, sec.quantised_sos()) > Q15_MAX_RESPONSE_ERROR:
            sec = build(Q31)
            if _response_error(sos_row, sec.quantised_sos()) > Q15_MAX_RESPONSE_ERROR:
                sec = build(Q31X64)
    _check(sec)
    return sec


def _check(sec: Section) -> None:
    q = sec.quantised_sos()
    poles = np.roots([1.0, q[4], q[5]])
    if np.max(np.abs(poles)) >= 1.0:
        raise DesignError(f"{sec.name}: quantised section is unstable (poles {poles})")
    gain = float(np.max(np.abs(signal.sosfreqz(q.reshape(1, 6), worN=2048)[1])))
    if gain > MAX_STAGE_GAIN:
        raise DesignError(f"{sec.name}: peak gain {gain:.2f} exceeds {MAX_STAGE_GAIN}")


def check_cascade(sections: list[Section]) -> float:
    """Peak gain of the whole quantised cascade (raises DesignError above the headroom)."""
    if not sections:
        return 1.0
    if len(sections) > MAX_SECTIONS:
        raise DesignError(f"{len(sections)} sections; the core runs at most {MAX_SECTIONS}")
    sos = np.vstack([s.quantised_sos() for s in sections])
    gain = float(np.max(np.abs(signal.sosfreqz(sos, worN=4096)[1])))
    if gain > MAX_CASCADE_GAIN:
        raise DesignError(f"cascade peak gain {gain:.1f} exceeds {MAX_CASCADE_GAIN}")
    return gain


def bandpass_sections(fs: float, lo: float | None, hi: float | None) -> list[Section]:
    """2nd-order Butterworth high-pass at lo and low-pass at hi (a 4th-order band-pass)."""
    out = []
    if lo is not None:
        out.append(quantise(signal.butter(2, lo, "highpass", fs=fs, output="sos")[0], f"hp{lo:g}"))
    if hi is not None:
        out.append(quantise(signal.butter(2, hi, "lowpass", fs=fs, output="sos")[0], f"lp{hi:g}"))
    return out


def notch_section(fs: float, f0: float, q: float) -> Section:
    """IIR notch (scipy.signal.iirnotch) at f0 with quality factor q."""
    b, a = signal.iirnotch(f0, q, fs=fs)
    return quantise(np.r_[b, a], f"notch{f0:g}")


def float_sos(sections: list[Section]) -> np.ndarray:
    """The unquantised designs as one sos array (for float references)."""
    return np.array([s.sos for s in sections]).reshape(-1, 6)
