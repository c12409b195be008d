"""Run a guided session through the recorder: phases annotated, live feedback of level against
target, stimuli marked by the trigger input and labelled with the stimulator's intensity.

Steps are timed by the stream's own sample index (the sensor's clock), not by the host's: step k
begins when the sample index reaches the protocol's start of that step, so phases sit where the
samples are even when the link stalls. The recorder (muwatch.session.recorder.Recorder) writes
`PHASE <name>` for each step; each rising edge of the trigger input becomes `TRIGGER rising`
(the recorder) and, with the stimulator's program, `STIM <x> mA` at the same sample (here).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from muwatch.errors import DeviceError, UsageError
from muwatch.guide.protocol import Protocol, Step


class FeedbackMeter:
    """Device listener: mean square of one channel (mean removed per block) kept per block, so
    the RMS over any recent window can be read, and the newest sample index seen."""

    def __init__(
        self,
        column: int,
        fs: float,
        uv_per_code: float,
        window_s: float = 0.25,
        keep_s: float = 1.0,
    ) -> None:
        self.column = column
        self.fs = fs
        self.uv = uv_per_code
        self.window = max(1, int(window_s * fs))
        self.keep = max(self.window, int(keep_s * fs))
        self._sq: deque[tuple[int, float]] = deque()  # (n samples, sum of squares)
        self._n = 0
        self.last_index = -1
        self._acc_from: int | None = None  # accumulate blocks starting at or after this index
        self._acc = [0, 0.0]

    def on_samples(self, block: Any) -> None:
        self.last_index = max(self.last_index, int(block.first_index) + int(block.n) - 1)
        if not block.live:
            return
        x = block.codes[:, self.column].astype(np.float64) * self.uv
        x = x - x.mean()
        ss = float(np.dot(x, x))
        self._sq.append((x.size, ss))
        self._n += x.size
        if self._acc_from is not None and int(block.first_index) >= self._acc_from:
            self._acc[0] += x.size
            self._acc[1] += ss
        while self._sq and self._n - self._sq[0][0] >= self.keep:
            self._n -= self._sq.popleft()[0]

    def on_event(self, event: Any) -> None:
        pass

    def on_gap(self, lost: Any) -> None:
        pass

    def on_link(self, state: str, detail: str) -> None:
        pass

    def accumulate(self, from_index: int) -> None:
        """Start summing the power of every live block from `from_index` on."""
        self._acc_from, self._acc = int(from_index), [0, 0.0]

    def accumulated(self) -> float | None:
        """Mean square (µV²) since `accumulate`, None when no block arrived; stops summing."""
        n, ss = self._acc
        self._acc_from = None
        return ss / n if n else None

    def mean_square(self, window_s: float | None = None) -> float:
        """Mean square (µV²) over the newest `window_s` (whole blocks; default the meter's)."""
        want = self.window if window_s is None else max(1, int(window_s * self.fs))
        n, ss = 0, 0.0
        for k, v in reversed(self._sq):
            if n >= want:
                break
            n += k
            ss += v
        return ss / n if n else 0.0

    def rms_uv(self, window_s: float | None = None) -> float:
        return math.sqrt(self.mean_square(window_s))


def emg_level_pct(ms: float, mvc_ms: float, noise_ms: float) -> float:
    """EMG level in % of the MVC's EMG, the noise floor removed from both in power (noise adds
    in power to uncorrelated EMG): 100·√(ms − noise) / √(mvc − noise). Linear in force where the
    RMS-force relation is (hand muscles: Lawrence & De Luca, J Appl Physiol 1983;54:1653)."""
    top = mvc_ms - noise_ms
    if top <= 0:
        return 0.0
    return 100.0 * math.sqrt(max(ms - noise_ms, 0.0) / top)


class StimulusLabeller:
    """Device listener: labels each rising trigger edge with the next intensity of the
    stimulator's program (`STIM <x> mA` at the trigger's sample)."""

    def __init__(self, recorder: Any, program: list[float] | None) -> None:
        self.recorder = recorder
        self.program = list(program or [])
        self.seen = 0
        self.unlabelled = 0

    def on_event(self, event: Any) -> None:
        if event.kind != "TRIGGER" or not int(event.fields.get("edge", 1)):
            return
        self.seen += 1
        if self.program:
            x = self.program.pop(0)
            self.recorder.annotate(
                f"STIM {x:.3f} mA", kind="stimulus", index=int(event.fields["sample_index"])
            )
        else:
            self.unlabelled += 1

    def on_samples(self, block: Any) -> None:
        pass

    def on_gap(self, lost: Any) -> None:
        pass

    def on_link(self, state: str, detail: str) -> None:
        pass


@dataclass
class StepState:
    """What a user interface shows while a step runs."""

    step: Step
    index: int  # step number
    n_steps: int
    elapsed_s: float
    level_pct: float | None  # current level as % of MVC (None before the MVC)
    target_pct: float | None


@dataclass
class StepResult:
    name: str
    kind: str
    start_index: int
    stop_index: int
    target_pct: float | None
    achieved_pct: float | None  # level over the step's second half (its power, noise removed)


@dataclass
class SessionResult:
    protocol: str
    steps: list[StepResult] = field(default_factory=list)
    mvc_rms_uv: float | None = None
    noise_rms_uv: float | None = None  # the rest baseline's floor, removed from every level
    stimuli_marked: int = 0
    stimuli_unlabelled: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


UI = Callable[[StepState], None]
MVC_WINDOW_S = 0.5  # MVC reference: the largest 0.5 s mean square of the plateau


class GuidedSession:
    """Drive `recorder` (started, streaming) through `protocol`."""

    def __init__(
        self,
        recorder: Any,
        protocol: Protocol,
        *,
        fs: float,
        feedback_column: int = 0,
        uv_per_code: float = 1.0,
        stimulator_program: list[float] | None = None,
        ui: UI | None = None,
        tick_s: float = 0.05,
        stall_timeout_s: float = 30.0,
    ) -> None:
        if protocol.has_stimulator and stimulator_program is not None:
            planned = sum(s.n_stimuli for s in protocol.steps)
            blocks = sum(s.n_stimuli for s in protocol.steps if s.kind == "block")
            # the fixed blocks' intensities may be left out: the operator sets them from the
            # scan during the session (the analysis needs only that each block is fixed)
            if len(stimulator_program) not in (planned, planned - blocks):
                want = f"{planned}" if not blocks else f"{planned} (or {planned - blocks})"
                raise UsageError(
                    f"the stimulator program has {len(stimulator_program)} intensities for "
                    f"{want} planned stimuli"
                )
        self.recorder = recorder
        self.protocol = protocol
        self.fs = float(fs)
        self.meter = FeedbackMeter(feedback_column, self.fs, uv_per_code)
        self.labeller = StimulusLabeller(recorder, stimulator_program)
        self.ui = ui
        self.tick = tick_s
        self.stall_timeout = stall_timeout_s
        self.mvc_rms: float | None = None
        self.mvc_ms: float | None = None
        self.noise_ms = 0.0
        self.noise_rms: float | None = None

    async def _wait_index(self, target: int) -> None:
        last, t_last = self.meter.last_index, time.monotonic()
        while self.meter.last_index < target:
            if self.recorder.failed.is_set():
                raise self.recorder.failure or DeviceError("the recording failed")
            await asyncio.sleep(self.tick)
            if self.meter.last_index != last:
                last, t_last = self.meter.last_index, time.monotonic()
            elif time.monotonic() - t_last > self.stall_timeout:
                raise DeviceError(
                    f"no samples for {self.stall_timeout:.0f} s: the sensor stopped streaming"
                )

    def _level(self) -> float | None:
        if self.mvc_ms is None:
            return None
        return emg_level_pct(self.meter.mean_square(), self.mvc_ms, self.noise_ms)

    async def run(self) -> SessionResult:
        """Run every step; each step's level is the power of its second half relative to the
        MVC's (the largest 0.5 s mean square after the first 0.5 s), the rest baseline's noise
        floor removed from both."""
        dev = self.recorder.device
        dev.add_listener(self.meter)
        dev.add_listener(self.labeller)
        result = SessionResult(self.protocol.name)
        try:
            t = 0.0
            n = len(self.protocol.steps)
            for k, step in enumerate(self.protocol.steps):
                start = int(round(t * self.fs))
                stop = int(round((t + step.seconds) * self.fs))
                half = int(round((t + step.seconds / 2) * self.fs))
                await self._wait_index(start)
                self.recorder.begin_phase(step.name)
                peak = 0.0
                measuring = False
                while self.meter.last_index < stop - 1:  # sample stop - 1 ends the step
                    if not measuring and self.meter.last_index + 1 >= half:
                        self.meter.accumulate(self.meter.last_index + 1)
                        measuring = True
                    await self._wait_index(
                        min(stop - 1, self.meter.last_index + max(1, int(self.tick * self.fs)))
                    )
                    elapsed = (self.meter.last_index - start) / self.fs
                    if step.kind == "mvc" and elapsed > 1.0:  # a full 0.5 s after the first 0.5 s
                        peak = max(peak, self.meter.mean_square(MVC_WINDOW_S))
                    if self.ui is not None:
                        self.ui(StepState(step, k, n, elapsed, self._level(), step.target_pct))
                ms = self.meter.accumulated() if measuring else None
                if step.kind == "rest" and ms is not None and self.noise_rms is None:
                    self.noise_ms = ms  # the first rest: the baseline
                    self.noise_rms = math.sqrt(ms)
                if step.kind == "mvc" and peak > 0:
                    self.mvc_ms = peak if self.mvc_ms is None else max(self.mvc_ms, peak)
                    self.mvc_rms = math.sqrt(self.mvc_ms)
                achieved = None
                if step.kind in ("steady", "mvc") and ms is not None and self.mvc_ms is not None:
                    achieved = emg_level_pct(ms, self.mvc_ms, self.noise_ms)
                result.steps.append(
                    StepResult(step.name, step.kind, start, stop, step.target_pct, achieved)
                )
                t += step.seconds
            self.recorder.end_phase()
        finally:
            dev.remove_listener(self.meter)
            dev.remove_listener(self.labeller)
        result.noise_rms_uv = self.noise_rms
        result.mvc_rms_uv = self.mvc_rms
        result.stimuli_marked = self.labeller.seen
        result.stimuli_unlabelled = self.labeller.unlabelled
        return result
