"""The Recorder over the fake sensor: a whole session with outage, markers, phases, device
events; storage faults mid-recording keep everything written and say what to do."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil

import edfio
import numpy as np
import pytest
from fakesensor import FakeSensor, FakeTransport
from muwatch.device import Device, StreamConfig
from muwatch.errors import StorageError, UsageError
from muwatch.protocol.bodies import LeadOff, Trigger
from muwatch.session import SessionIndex, recover_session
from muwatch.session import journal as jr
from muwatch.session.recorder import Recorder


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _pump(sensor: FakeSensor, n_chunks: int, chunk: int = 50, pause: float = 0.002):
    for _ in range(n_chunks):
        sensor.produce(chunk)
        await asyncio.sleep(pause)


def _setup(store, **kw):
    sensor = FakeSensor(**kw)
    dev = Device(FakeTransport(sensor), request_timeout=1.0, backoff=(0.01, 0.05))
    warnings: list[str] = []
    rec = Recorder(dev, store, subject="p01", muscle="FDI", task="grip", on_warning=warnings.append)
    return sensor, dev, rec, warnings


def test_session_with_outage_markers_phases_and_events(store):
    async def main():
        sensor, dev, rec, warnings = _setup(store, ring_samples=5000)
        await dev.open()
        sid = await rec.start(StreamConfig(rate_hz=1000, channels=(1, 2)))
        await _pump(sensor, 10)
        rec.begin_phase("rest")
        await _pump(sensor, 10)
        m_idx = await rec.marker(3, "key 3")
        await _pump(sensor, 10)
        rec.end_phase()
        sensor.event(LeadOff(sensor.next_index & 0xFFFFFFFF, 0b10, 0))
        sensor.event(Trigger(1234, 0, 1))
        await _pump(sensor, 2)
        sensor.go_away()
        await _pump(sensor, 20)  # 1000 samples while away, within the ring
        sensor.come_back()
        await _pump(sensor, 40, pause=0.01)
        summary = await rec.stop()
        return sensor, sid, summary, m_idx, warnings

    sensor, sid, summary, m_idx, warnings = run(main())
    assert summary["status"] == "finalised"
    n = summary["n_samples"]
    assert n == 4600 and summary["lost_samples"] == 0 and summary["gaps"] == []
    assert summary["backfilled_samples"] >= 1000
    bdf = edfio.read_bdf(store.sessions_dir / sid / f"{sid}.bdf")
    for i in range(2):
        assert np.array_equal(bdf.signals[i].digital[:n], sensor.codes(0, n)[:, i])
    texts = {a.text: a for a in bdf.annotations}
    assert texts["MARKER 3: key 3"].onset == pytest.approx(m_idx / 1000)
    assert m_idx == 1000
    phase = texts["PHASE rest"]
    assert phase.duration == pytest.approx(1.0, abs=0.3)
    assert "LEAD_OFF EMG2+" in texts
    assert texts["TRIGGER rising"].onset == pytest.approx(1.234)
    assert any(t.startswith("LINK lost") for t in texts)
    assert any("link lost" in w for w in warnings)
    row = SessionIndex(store.index_path).get(sid)
    assert row is not None and row.status == "finalised" and row.lost_samples == 0


def test_labels_are_checked_before_anything_runs(store):
    sensor = FakeSensor()
    dev = Device(FakeTransport(sensor))
    with pytest.raises(UsageError, match="letters and digits"):
        Recorder(dev, store, subject="p 01", muscle="FDI", task="grip")
    with pytest.raises(UsageError, match="muscle"):
        Recorder(dev, store, subject="p01", muscle=" ", task="grip")


def test_disk_full_stops_with_a_clear_error_and_recover_keeps_what_was_written(store, monkeypatch):
    async def main():
        sensor, dev, rec, warnings = _setup(store)
        await dev.open()
        sid = await rec.start(StreamConfig(rate_hz=1000, channels=(1, 2)))
        await _pump(sensor, 20, pause=0.01)
        rec._writer.flush()
        written = scan_blocks(store, sid)
        real_write = os.write

        def enospc(fd, data):
            if fd == rec._writer._fd:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(fd, data)

        monkeypatch.setattr(jr.os, "write", enospc)
        await _pump(sensor, 20, pause=0.02)
        await asyncio.wait_for(rec.failed.wait(), 5)
        with pytest.raises(StorageError, match="disk full"):
            await rec.stop()
        monkeypatch.setattr(jr.os, "write", real_write)
        await dev.close()
        return sid, written, warnings, sensor

    sid, written, warnings, sensor = run(main())
    assert any("disk full" in w for w in warnings)
    assert any("muwatch recover" in w for w in warnings)
    summary = recover_session(store.sessions_dir / sid)
    assert summary["status"] == "recovered"
    assert summary["received_samples"] >= written
    bdf = edfio.read_bdf(store.sessions_dir / sid / f"{sid}.bdf")
    k = summary["received_samples"]
    assert np.array_equal(bdf.signals[0].digital[:k], sensor.codes(0, k)[:, 0])


def scan_blocks(store, sid) -> int:
    scan = jr.scan_journal(store.sessions_dir / sid / "journal.mwj")
    return sum(b.n_samples for b in scan.blocks)


def test_deleted_data_folder_mid_recording_loses_nothing(store):
    async def main():
        sensor, dev, rec, warnings = _setup(store)
        await dev.open()
        sid = await rec.start(StreamConfig(rate_hz=1000, channels=(1, 2)))
        await _pump(sensor, 20, pause=0.01)
        shutil.rmtree(store.root)
        await _pump(sensor, 20, pause=0.01)
        summary = await rec.stop()
        await dev.close()
        return sid, summary, warnings, sensor

    sid, summary, warnings, sensor = run(main())
    assert any("deleted" in w for w in warnings)
    assert summary["status"] == "finalised" and summary["lost_samples"] == 0
    n = summary["n_samples"]
    assert n == 2000
    bdf = edfio.read_bdf(store.sessions_dir / sid / f"{sid}.bdf")
    assert np.array_equal(bdf.signals[1].digital[:n], sensor.codes(0, n)[:, 1])
    # the index was recreated with the session in it
    assert SessionIndex(store.index_path).get(sid).status == "finalised"


def test_device_that_disappears_for_good_ends_with_the_lost_tail_recorded(store):
    async def main():
        sensor = FakeSensor()
        dev = Device(
            FakeTransport(sensor), request_timeout=0.3, backoff=(0.01, 0.05), reconnect_timeout=0.5
        )
        rec = Recorder(
            dev, store, subject="p01", muscle="FDI", task="grip", on_warning=lambda m: None
        )
        await dev.open()
        await rec.start(StreamConfig(rate_hz=1000, channels=(1, 2)))
        await _pump(sensor, 20, pause=0.005)
        sensor.go_away("switched off")
        await asyncio.sleep(0.8)
        assert dev.link_state == "gave_up"
        summary = await rec.stop(drain_timeout=0.2)
        await dev.close()
        return summary

    summary = run(main())
    assert summary["status"] == "finalised"
    assert summary["n_samples"] == 1000 and summary["lost_samples"] == 0
    assert summary["journal"]["stop_reason"] == "stopped"
    texts = [a["text"] for a in summary["annotations"]]
    assert any(t.startswith("LINK gave_up") for t in texts)


def test_a_failed_start_leaves_no_session_behind(store):
    from muwatch.device import DeviceTimeout
    from muwatch.protocol import constants as pc

    async def main():
        sensor = FakeSensor()
        dev = Device(FakeTransport(sensor), request_timeout=0.3)
        await dev.open()
        sensor.silent.add(pc.Opcode.START)  # the journal exists when START goes unanswered
        rec = Recorder(dev, store, subject="p01", muscle="FDI", task="grip")
        with pytest.raises(DeviceTimeout, match="START"):
            await rec.start(StreamConfig(rate_hz=1000, channels=(1, 2)))
        await dev.close()

    run(main())
    assert store.session_ids() == []
    assert SessionIndex(store.index_path).find() == []


@pytest.mark.parametrize(
    ("usb_power", "mode", "warned"),
    [(True, "normal", True), (False, "normal", False), (True, "test_signal", False)],
)
def test_usb_power_at_start_warns_on_electrodes_and_is_kept_in_the_file(
    store, usb_power, mode, warned
):
    """Electrodes (mode normal) on USB power: a warning and a BDF+ annotation, but the
    recording goes on; the power source is in the metadata either way."""

    async def main():
        sensor, dev, rec, warnings = _setup(store)
        sensor.usb_power = usb_power
        await dev.open()
        sid = await rec.start(StreamConfig(rate_hz=1000, channels=(1, 2), mode=mode))
        await _pump(sensor, 10)
        summary = await rec.stop()
        return sid, summary, warnings

    sid, summary, warnings = run(main())
    assert summary["status"] == "finalised" and summary["n_samples"] == 500
    usb_warnings = [w for w in warnings if "USB power" in w]
    bdf = edfio.read_bdf(store.sessions_dir / sid / f"{sid}.bdf")
    usb_notes = [a for a in bdf.annotations if a.text.startswith("USB_POWER")]
    if warned:
        assert len(usb_warnings) == 1 and "mains-powered" in usb_warnings[0]
        assert "docs/safety.md" in usb_warnings[0]
        assert len(usb_notes) == 1 and "never record from electrodes" in usb_notes[0].text
    else:
        assert usb_warnings == [] and usb_notes == []
    meta = json.loads((store.sessions_dir / sid / "session.json").read_text())["meta"]
    assert meta["device"]["power_at_start"] == ("usb" if usb_power else "battery")


def test_usb_power_plugged_in_mid_recording_is_warned_and_annotated(store):
    """A status poll that finds the cable plugged in during an electrode recording warns once
    and leaves a BDF+ annotation; unplugging it again is noted too."""

    async def pump_until(sensor, done) -> None:
        for _ in range(2000):  # the poll runs every 50 ms; waits on the event, not on time
            if done():
                return
            await _pump(sensor, 1, chunk=10, pause=0.005)
        raise AssertionError("the status poll never saw the change")

    async def main():
        sensor, dev, _, warnings = _setup(store)
        rec = Recorder(
            dev,
            store,
            subject="p01",
            muscle="FDI",
            task="grip",
            on_warning=warnings.append,
            status_interval=0.05,
        )
        await dev.open()
        sid = await rec.start(StreamConfig(rate_hz=1000, channels=(1, 2)))
        await _pump(sensor, 10)
        assert not rec.usb_power
        sensor.usb_power = True
        await pump_until(sensor, lambda: rec.usb_power)
        sensor.usb_power = False
        await pump_until(sensor, lambda: not rec.usb_power)
        await _pump(sensor, 10)
        summary = await rec.stop()
        return sid, summary, warnings

    sid, summary, warnings = run(main())
    assert summary["status"] == "finalised"
    assert len([w for w in warnings if "USB power" in w]) == 1
    bdf = edfio.read_bdf(store.sessions_dir / sid / f"{sid}.bdf")
    notes = [a for a in bdf.annotations if a.text.startswith("USB_POWER")]
    assert [a.text.split()[0] for a in notes] == ["USB_POWER", "USB_POWER_OFF"]
    assert "never record from electrodes" in notes[0].text
    assert notes[0].onset <= notes[1].onset
    meta = json.loads((store.sessions_dir / sid / "session.json").read_text())["meta"]
    assert meta["device"]["power_at_start"] == "battery"
