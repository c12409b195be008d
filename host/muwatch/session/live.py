"""Live figures for the `stream` and `record` views: per-channel RMS, lead-off, loss, rate.

A Device listener; O(channels) numpy work per block, nothing kept per sample.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LiveSnapshot:
    """What a live view shows at one moment."""

    rms_uv: list[float]
    lead_off: list[str]  # per channel: "", "+", "-", "+-"
    samples: int
    lost: int
    backfilled: int
    rate_hz: float  # samples/s arriving (live) over the last seconds
    link: str
    battery_percent: int | None
    drift_ppm: float | None
    jitter_ms: float | None
    seconds: float  # recorded stream length (samples / rate)
    extra: dict[str, Any] = field(default_factory=dict)


class LiveStats:
    """Running mean/RMS per channel (time constant `tau_s`) and counters for a live view."""

    def __init__(
        self,
        channels: list[int],
        sample_rate: float,
        uv_per_code: float,
        *,
        tau_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels = list(channels)
        self.fs = float(sample_rate)
        self.uv = float(uv_per_code)
        self.tau = tau_s
        n = len(channels)
        self._mean = np.zeros(n)
        self._sq = np.zeros(n)
        self._primed = False
        self.loff_p = 0
        self.loff_n = 0
        self.battery_percent: int | None = None
        self.link = "open"
        self.samples = 0
        self.lost = 0
        self.backfilled = 0
        self._clock = clock
        self._rate_t0 = clock()
        self._rate_n = 0
        self._rate = 0.0

    # listener protocol
    def on_samples(self, block: Any) -> None:
        self.samples += block.n
        if not block.live:
            self.backfilled += block.n
            return
        x = block.codes.astype(np.float64) * self.uv
        n = x.shape[0]
        alpha = 1.0 - math.exp(-n / self.fs / self.tau)
        if not self._primed:
            self._mean[:] = x.mean(axis=0)
            self._sq[:] = (x * x).mean(axis=0)
            self._primed = True
        else:
            self._mean += alpha * (x.mean(axis=0) - self._mean)
            self._sq += alpha * ((x * x).mean(axis=0) - self._sq)
        self._rate_n += n
        now = self._clock()
        if now - self._rate_t0 >= 1.0:
            self._rate = self._rate_n / (now - self._rate_t0)
            self._rate_t0, self._rate_n = now, 0

    def on_gap(self, lost: Any) -> None:
        self.lost += lost.count

    def on_event(self, ev: Any) -> None:
        if ev.kind == "LEAD_OFF":
            self.loff_p = int(ev.fields.get("loff_p", 0))
            self.loff_n = int(ev.fields.get("loff_n", 0))
        elif ev.kind == "BATTERY_LOW":
            self.battery_percent = int(ev.fields.get("percent", 0))

    def on_link(self, state: str, detail: str) -> None:
        self.link = state

    def set_status(self, status: Any) -> None:
        """Fold in a GET_STATUS answer (battery, lead-off bits)."""
        self.battery_percent = int(status.battery_percent)
        self.loff_p = int(status.loff_p)
        self.loff_n = int(status.loff_n)

    def lead_off_text(self) -> list[str]:
        out = []
        for ch in self.channels:
            bit = 1 << (ch - 1)
            out.append(("+" if self.loff_p & bit else "") + ("-" if self.loff_n & bit else ""))
        return out

    def snapshot(self, device: Any = None) -> LiveSnapshot:
        var = np.maximum(self._sq - self._mean * self._mean, 0.0)
        fit = device.clock.fit if device is not None else None
        return LiveSnapshot(
            rms_uv=[float(v) for v in np.sqrt(var)],
            lead_off=self.lead_off_text(),
            samples=self.samples,
            lost=self.lost,
            backfilled=self.backfilled,
            rate_hz=self._rate,
            link=self.link,
            battery_percent=self.battery_percent,
            drift_ppm=fit.drift_ppm if fit is not None and fit.span_s >= 2 else None,
            jitter_ms=fit.jitter_us / 1000 if fit is not None else None,
            seconds=(device.tracker.hwm if device is not None else self.samples) / self.fs,
        )
