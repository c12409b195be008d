"""The guided session against a scripted stream: steps timed by sample index, phases annotated,
MVC-normalised feedback, stimuli labelled with the stimulator's program."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from muwatch.device import DeviceEvent, SampleBlock
from muwatch.errors import UsageError
from muwatch.guide import GuidedSession, guided_protocol, to_sim_schedule

FS = 1000.0


class FakeDevice:
    """Streams a signal whose RMS follows the protocol (blocks of 50 samples, as fast as the
    event loop runs) and pulses the trigger at the planned stimuli."""

    def __init__(self, proto, mvc_uv: float = 400.0) -> None:
        self.listeners: list = []
        self.proto = proto
        rng = np.random.default_rng(0)
        parts, t = [], 0.0
        for s in proto.steps:
            n = int(round(s.seconds * FS))
            level = {"rest": 5.0, "mvc": mvc_uv}.get(s.kind, mvc_uv * (s.target_pct or 0) / 100.0)
            parts.append(rng.normal(0, level, n))
            t += s.seconds
        self.x = np.concatenate(parts)
        self.trig = [int(round(t * FS)) for t, _ in proto.stimulus_times()]

    def add_listener(self, listener) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener) -> None:
        self.listeners.remove(listener)

    async def stream(self) -> None:
        for i in range(0, self.x.size, 50):
            codes = np.round(self.x[i : i + 50])[:, None].astype(np.int32)
            blk = SampleBlock(i, codes, 0, 0.0, 0, True)
            for k in self.trig:
                if i <= k < i + 50:
                    ev = DeviceEvent("TRIGGER", {"sample_index": k, "edge": 1}, 0.0)
                    for ls in list(self.listeners):
                        getattr(ls, "on_event", lambda e: None)(ev)
            for ls in list(self.listeners):
                ls.on_samples(blk)
            await asyncio.sleep(0)


class FakeRecorder:
    def __init__(self, dev: FakeDevice) -> None:
        self.device = dev
        self.phases: list[tuple[str, int]] = []
        self.notes: list[tuple[str, int]] = []
        self.failed = asyncio.Event()
        self.failure = None

    def begin_phase(self, name: str) -> int:
        idx = max(getattr(ls, "last_index", -1) for ls in self.device.listeners)
        self.phases.append((name, idx))
        return idx

    def end_phase(self) -> None:
        pass

    def annotate(
        self, text: str, *, kind: str = "note", index: int | None = None, duration_samples: int = 0
    ) -> int:
        self.notes.append((text, int(index or 0)))
        return int(index or 0)


def _run(proto, program):
    dev = FakeDevice(proto)
    rec = FakeRecorder(dev)
    seen = []
    gs = GuidedSession(rec, proto, fs=FS, stimulator_program=program, ui=seen.append, tick_s=0.0)

    async def both():
        task = asyncio.ensure_future(dev.stream())
        res = await gs.run()
        await task
        return res

    return asyncio.run(both()), rec, seen


def test_steps_follow_the_sample_index_and_levels_are_normalised_to_mvc() -> None:
    proto = guided_protocol(
        stimulator=True, quick=True, scan_stimuli=60, scan_rate_hz=10.0, block_rate_hz=10.0
    )
    program = [40.0] * 5 + list(np.linspace(40.0, 20.0, 60))  # blocks set during the session
    res, rec, seen = _run(proto, program)
    assert [p[0] for p in rec.phases] == [s.name for s in proto.steps]
    t = 0.0
    for (name, idx), step in zip(rec.phases, proto.steps, strict=True):
        assert abs(idx - t * FS) <= 50, name  # one block of latency at most
        t += step.seconds
    sip = {s.name: s.achieved_pct for s in res.steps if s.name.startswith("SIP")}
    assert sip["SIP 30% MVC"] == pytest.approx(30.0, abs=4.0)
    assert sip["SIP 80% MVC"] == pytest.approx(80.0, abs=6.0)
    assert res.stimuli_marked == 125 and res.stimuli_unlabelled == 60  # the two fixed blocks
    stim = [n for n in rec.notes if n[0].startswith("STIM")]
    assert stim[0][0] == "STIM 40.000 mA" and stim[-1][0] == "STIM 20.000 mA"
    assert [i for _, i in stim] == FakeDevice(proto).trig[:65]
    assert any(s.level_pct is not None for s in seen)


def test_protocol_has_enough_sip_epochs_and_maps_to_the_simulator() -> None:
    proto = guided_protocol(quick=True)
    sip = [s for s in proto.steps if s.name.startswith("SIP")]
    assert sum(int((s.seconds - 0.5) / 0.5) for s in sip) >= 20  # the guideline's >= 20 epochs
    assert not proto.has_stimulator and "indices only" in proto.notes[0]
    full = guided_protocol(stimulator=True, quick=True, scan_stimuli=60)
    sched = to_sim_schedule(full, block_ma=[25.0, 26.0])
    assert len(sched) == len(full.steps)
    blocks = [p for p in sched if "fixed submaximal block" in p.label]
    assert [(b.n, b.intensity_ma) for b in blocks] == [(30, 25.0), (30, 26.0)]
    with pytest.raises(UsageError, match="2 fixed blocks"):
        to_sim_schedule(full)
    low = [s for s in proto.steps if s.kind == "steady" and (s.target_pct or 0) <= 5]
    assert [s.target_pct for s in low] == [2.0, 5.0]
    # >= 5 units x >= 50 discharges at threshold rates (~8 Hz) in the real protocol
    assert all(s.seconds * 8.0 >= 50 for s in low)
    assert all(s.seconds >= 30 for s in guided_protocol().steps if s.name in ("steady 2% MVC",))


def test_program_must_match_the_planned_stimuli() -> None:
    proto = guided_protocol(stimulator=True, quick=True, scan_stimuli=60)
    with pytest.raises(UsageError, match="stimulator program"):
        GuidedSession(FakeRecorder(FakeDevice(proto)), proto, fs=FS, stimulator_program=[30.0])
    with pytest.raises(UsageError, match="60-1000"):
        guided_protocol(stimulator=True, scan_stimuli=10)
