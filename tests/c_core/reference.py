"""Float reference of the detection chain (numpy/scipy), for judging the fixed-point core.

Same structure as the C chain, in float64: unquantised scipy sections (sosfilt, first section
settled to the first sample when it blocks DC), the same block streaming-median noise tracker, the
same crossing / alignment / dead-time / ceiling rules. Written from the C documentation, not
from the C code's arithmetic, so quantisation and rounding are the only expected differences.
"""

from __future__ import annotations

import numpy as np
from muwatch.analysis._corewrap import DetectorParams
from scipy import signal


def filter_float(x: np.ndarray, sos: np.ndarray, x0: float) -> np.ndarray:
    zi = np.zeros((sos.shape[0], 2))
    if sos.shape[0] and abs(sos[0, :3].sum()) < 1e-9:
        zi[0] = signal.sosfilt_zi(sos[:1])[0] * x0
    y, _ = signal.sosfilt(sos, x.astype(np.float64), zi=zi)
    return y


BLOCK = 16  # MW_NOISE_BLOCK: the level is held over a block and moved by its vote


class NoiseTracker:
    """Block Frugal median tracker (mw_noise.h): m held over 16 samples, then
    m += (m 2^-shift + 1) * (#{|x| > m} - #{|x| <= m})."""

    def __init__(self, target: int) -> None:
        self.m, self.started, self.shift, self.target = 0.0, False, 5, target
        self.left, self.pos, self.above = 1 << 5, 0, 0

    def step(self, a: float) -> None:
        if not self.started:
            self.m += a / 16.0
            self.pos += 1
            if self.pos == BLOCK:
                self.m *= 27.0 / 32.0
                self.started, self.pos, self.left = True, 0, 1 << self.shift
            return
        self.above += a > self.m
        self.pos += 1
        if self.pos < BLOCK:
            return
        st = self.m * 2.0**-self.shift + 1.0
        self.m = max(self.m + st * (2 * self.above - BLOCK), 0.0)
        self.pos = self.above = 0
        if self.shift < self.target:
            self.left -= BLOCK
            if self.left == 0:
                self.shift += 1
                self.left = 1 << self.shift

    def set_warm(self) -> None:
        self.shift, self.started, self.pos, self.above = self.target, True, 0, 0


def detect_float(
    x: np.ndarray, sos: np.ndarray, det: DetectorParams, noise_shift: int, prime: int
) -> np.ndarray:
    """Indices of the extremum of each accepted event (plain detection, no NEO)."""
    thr_mult = round(det.thr_mult * 4096) / 4096
    ceil_mult = round(det.ceil_mult * 4096) / 4096
    nz = NoiseTracker(noise_shift)
    for v in np.abs(filter_float(x[:prime], sos, float(x[0]))):
        nz.step(float(v))
    nz.set_warm()
    y = filter_float(x, sos, float(x[0]))
    pol = det.polarity
    out = []
    prev = 0.0
    phase = False
    dead_left = 0
    blank = det.blank
    peak = peak_i = dmax = ceil = 0.0
    win = 0
    for i, v in enumerate(y.tolist()):
        a = abs(v)
        m = nz.m  # the level of this block (updated at its end)
        nz.step(a)
        if blank:
            blank -= 1
            prev = v
            continue
        thr = m * thr_mult
        if phase:
            better = v > peak if pol == "pos" else v < peak if pol == "neg" else a > abs(peak)
            if better:
                peak, peak_i = v, i
            dmax = max(dmax, a)
            win -= 1
            if win == 0:
                phase = False
                dead_left = max(0, int(peak_i) + det.dead - i)
                if not (ceil and dmax > ceil):
                    out.append(int(peak_i))
        elif dead_left:
            dead_left -= 1
        else:
            up = pol in ("pos", "both") and prev < thr <= v
            down = pol in ("neg", "both") and prev > -thr >= v
            if up or down:
                phase, peak, peak_i, dmax = True, v, i, a
                ceil = m * ceil_mult
                win = det.align
                if win == 0:
                    phase = False
                    dead_left = det.dead
                    if not (ceil and dmax > ceil):
                        out.append(i)
        prev = v
    return np.array(out, dtype=np.int64)
