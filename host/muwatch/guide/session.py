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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from muwatch.errors import DeviceError, UsageError
from muwatch.guide.protocol import Protocol, Step


class FeedbackMeter:
    """Device listener: RMS envelope of one channel over the last `window_s` (mean removed per
    block), and the newest sample index seen."""

    def __init__(self, column: int, fs: float, uv_per_code: float, window_s: float = 0.25) -> None:
        self.column = column
        self.fs = fs
        self.uv = uv_per_code
        self.keep = max(1, int(window_s * fs))
        self._sq: list[tuple[int, float]] = []  # (n samples, sum of squares)
        self._n = 0
        self.last_index = -1

    def on_samples(self, block: Any) -> None:
        self.last_index = max(self.last_index, int(block.first_index) + int(block.n) - 1)
        if not block.live:
            return
        x = block.codes[:, self.column].astype(np.float64) * self.uv
        x = x - x.mean()
        self._sq.append((x.size, float(np.dot(x, x))))
        self._n += x.size
        while self._sq and self._n - self._sq[0][0] >= self.keep:
            self._n -= self._sq.pop(0)[0]

    def on_event(self, event: Any) -> None:
        pass

    def on_gap(self, lost: Any) -> None:
        pass

    def on_link(self, state: str, detail: str) -> None:
        pass

    def rms_uv(self) -> float:
        return math.sqrt(sum(s for _, s in self._sq) / self._n) if self._n else 0.0


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
    achieved_pct: float | None  # mean level over the step's second half


@dataclass
class SessionResult:
    protocol: str
    steps: list[StepResult] = field(default_factory=list)
    mvc_rms_uv: float | None = None
    stimuli_marked: int = 0
    stimuli_unlabelled: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


UI = Callable[[StepState], None]


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
            if len(stimulator_program) != planned:
                raise UsageError(
                    f"the stimulator program has {len(stimulator_program)} intensities for "
                    f"{planned} planned stimuli"
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
        if not self.mvc_rms:
            return None
        return 100.0 * self.meter.rms_uv() / self.mvc_rms

    async def run(self) -> SessionResult:
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
                await self._wait_index(start)
                self.recorder.begin_phase(step.name)
                levels: list[float] = []
                peak = 0.0
                while self.meter.last_index < stop - 1:  # sample stop - 1 ends the step
                    await self._wait_index(
                        min(stop - 1, self.meter.last_index + max(1, int(self.tick * self.fs)))
                    )
                    elapsed = (self.meter.last_index - start) / self.fs
                    rms = self.meter.rms_uv()
                    if step.kind == "mvc" and elapsed > 0.5:
                        peak = max(peak, rms)
                    lvl = self._level()
                    if lvl is not None and elapsed >= step.seconds / 2:
                        levels.append(lvl)
                    if self.ui is not None:
                        self.ui(StepState(step, k, n, elapsed, lvl, step.target_pct))
                if step.kind == "mvc" and peak > 0:
                    self.mvc_rms = peak if self.mvc_rms is None else max(self.mvc_rms, peak)
                result.steps.append(
                    StepResult(
                        step.name,
                        step.kind,
                        start,
                        stop,
                        step.target_pct,
                        float(np.mean(levels))
                        if levels and step.kind in ("steady", "mvc")
                        else None,
                    )
                )
                t += step.seconds
            self.recorder.end_phase()
        finally:
            dev.remove_listener(self.meter)
            dev.remove_listener(self.labeller)
        result.mvc_rms_uv = self.mvc_rms
        result.stimuli_marked = self.labeller.seen
        result.stimuli_unlabelled = self.labeller.unlabelled
        return result
