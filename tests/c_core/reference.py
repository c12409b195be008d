"""Float reference of the detection chain (numpy/scipy), for judging the fixed-point core.

Same structure as the C chain, in float64: unquantised scipy sections (sosfilt, first section
settled to the first sample when it blocks DC), the same streaming-median noise tracker, the
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


class NoiseTracker:
    def __init__(self, target: int) -> None:
        self.m, self.started, self.left, self.shift, self.target = 0.0, False, 16, 4, target

    def step(self, a: float) -> None:
        if not self.started:
            self.m += a / 16.0
            self.left -= 1
            if self.left == 0:
                self.m *= 27.0 / 32.0
                self.started = True
                self.left = 1 << self.shift
            return
        st = self.m * 2.0**-self.shift + 1.0
        if a > self.m:
            self.m += st
        elif a < self.m:
            self.m = max(self.m - st, 0.0)
        if self.shift < self.target:
            self.left -= 1
            if self.left == 0:
                self.shift += 1
                self.left = 1 << self.shift


def detect_float(
    x: np.ndarray, sos: np.ndarray, det: DetectorParams, noise_shift: int, prime: int
) -> np.ndarray:
    """Indices of the extremum of each accepted event (plain detection, no NEO)."""
    thr_mult = round(det.thr_mult * 4096) / 4096
    ceil_mult = round(det.ceil_mult * 4096) / 4096
    nz = NoiseTracker(noise_shift)
    for v in np.abs(filter_float(x[:prime], sos, float(x[0]))):
        nz.step(float(v))
    nz.shift, nz.started = nz.target, True
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
        nz.step(a)
        if blank:
            blank -= 1
            prev = v
            continue
        thr = nz.m * thr_mult
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
                ceil = nz.m * ceil_mult
                win = det.align
                if win == 0:
                    phase = False
                    dead_left = det.dead
                    if not (ceil and dmax > ceil):
                        out.append(i)
        prev = v
    return np.array(out, dtype=np.int64)
