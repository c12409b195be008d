"""Device clock → host clock: an online linear fit (offset + drift) on the lower envelope.

Every data frame gives a pair (device time of its newest sample, host arrival time). Arrival =
true time + link latency, and latency only ever adds, so the least-delayed frame in each window
(`window_s` of device time) is the best estimate of the true relation; a least-squares line
through those envelope points gives offset and drift without the bias and jitter of arrival
stamps (the peer-tool failure this avoids). Drift is reported in ppm, and two spreads: the RMS
residual of the envelope about the line (how well the map is known) and the standard deviation
of all arrivals about it (the link's latency jitter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ClockFit:
    """A snapshot of the map host = host0 + offset_s + slope * (device_us - device0_us) / 1e6."""

    device0_us: int
    host0: float
    offset_s: float
    slope: float
    points: int  # envelope points used
    span_s: float  # device time covered by the fit
    residual_us: float  # RMS residual of the envelope points
    jitter_us: float  # std of every arrival about the line (latency jitter)

    @property
    def drift_ppm(self) -> float:
        """How much faster (+) the device clock runs than the host's, in parts per million."""
        return (1.0 / self.slope - 1.0) * 1e6 if self.slope > 0 else float("nan")

    def to_host(self, device_us: float) -> float:
        """Host time (same clock as the arrivals) of a device time in µs."""
        return self.host0 + self.offset_s + self.slope * (device_us - self.device0_us) / 1e6

    def to_device(self, host_time: float) -> float:
        """Inverse map: device µs of a host time."""
        return self.device0_us + (host_time - self.host0 - self.offset_s) / self.slope * 1e6

    def as_dict(self) -> dict[str, float | int]:
        return {
            "device0_us": self.device0_us,
            "host0": self.host0,
            "offset_s": self.offset_s,
            "slope": self.slope,
            "drift_ppm": self.drift_ppm,
            "points": self.points,
            "span_s": self.span_s,
            "residual_us": self.residual_us,
            "jitter_us": self.jitter_us,
        }


class ClockMap:
    """Online fit; feed `add(device_us, host_time)` per frame, read `fit` whenever needed.

    Cost is O(1) per pair. The envelope point of a window is committed when the next window
    starts; the open window's current minimum is included provisionally so that the map is
    usable from the first frame (offset only until `min_span_s` of device time is covered).
    """

    def __init__(self, window_s: float = 1.0, min_span_s: float = 2.0) -> None:
        self.window_us = int(window_s * 1e6)
        self.min_span_s = min_span_s
        self._x0: int | None = None
        self._y0 = 0.0
        # committed envelope sums (x in s from x0, y in s from y0)
        self._n = 0
        self._sx = self._sy = self._sxx = self._sxy = self._syy = 0.0
        self._x_first = self._x_last = 0.0
        # open window
        self._win = -1
        self._win_best: tuple[float, float] | None = None  # (x, y) with the smallest y - x
        # all arrivals, for the jitter figure: sums of y, x, and cross terms
        self._an = 0
        self._asx = self._asy = self._asxx = self._asxy = self._asyy = 0.0
        self._fit: ClockFit | None = None

    @property
    def fit(self) -> ClockFit | None:
        if self._fit is None and self._x0 is not None:
            self._fit = self._compute()
        return self._fit

    def add(self, device_us: int, host_time: float) -> None:
        if self._x0 is None:
            self._x0 = int(device_us)
            self._y0 = float(host_time)
        x = (int(device_us) - self._x0) / 1e6
        y = float(host_time) - self._y0
        win = int((int(device_us) - self._x0) // self.window_us)
        if win != self._win:
            self._commit()
            self._win = win
            self._win_best = (x, y)
        elif self._win_best is not None and y - x < self._win_best[1] - self._win_best[0]:
            self._win_best = (x, y)
        self._an += 1
        self._asx += x
        self._asy += y
        self._asxx += x * x
        self._asxy += x * y
        self._asyy += y * y
        self._fit = None

    def _commit(self) -> None:
        if self._win_best is None:
            return
        x, y = self._win_best
        if self._n == 0:
            self._x_first = x
        self._x_last = max(self._x_last, x)
        self._n += 1
        self._sx += x
        self._sy += y
        self._sxx += x * x
        self._sxy += x * y
        self._syy += y * y
        self._win_best = None

    def _compute(self) -> ClockFit:
        n, sx, sy, sxx, sxy, syy = self._n, self._sx, self._sy, self._sxx, self._sxy, self._syy
        x_first, x_last = self._x_first, self._x_last
        if self._win_best is not None:  # include the open window provisionally
            x, y = self._win_best
            if n == 0:
                x_first = x
            x_last = max(x_last, x)
            n += 1
            sx, sy, sxx, sxy, syy = sx + x, sy + y, sxx + x * x, sxy + x * y, syy + y * y
        span = x_last - x_first
        var_x = sxx - sx * sx / n if n else 0.0
        if n >= 2 and span >= self.min_span_s and var_x > 0:
            slope = (sxy - sx * sy / n) / var_x
            # A slope far from 1 means the data are not a clock (reboot, bad pairs): fall back.
            if not 0.99 < slope < 1.01:
                slope = 1.0
        else:
            slope = 1.0
        intercept = (sy - slope * sx) / n if n else 0.0
        resid_sq = syy - 2 * slope * sxy - 2 * intercept * sy + slope * slope * sxx
        resid_sq += 2 * slope * intercept * sx + n * intercept * intercept
        residual_us = math.sqrt(max(resid_sq, 0.0) / n) * 1e6 if n else 0.0
        jitter_us = 0.0
        if self._an >= 2:
            a = self._an
            # residual r = y - slope*x - intercept; its variance over all arrivals
            mean_r = (self._asy - slope * self._asx) / a - intercept
            e_r2 = (
                self._asyy
                - 2 * slope * self._asxy
                + slope * slope * self._asxx
                - 2 * intercept * (self._asy - slope * self._asx)
            ) / a + intercept * intercept
            jitter_us = math.sqrt(max(e_r2 - mean_r * mean_r, 0.0)) * 1e6
        assert self._x0 is not None
        return ClockFit(
            device0_us=self._x0,
            host0=self._y0,
            offset_s=intercept,
            slope=slope,
            points=n,
            span_s=span,
            residual_us=residual_us,
            jitter_us=jitter_us,
        )
