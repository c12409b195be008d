"""The acceptance recordings over the BLE twin (real firmware in MicroPython, simulated radio
with scripted outages, bleak through the bumble backend): 60 s at 8 ch x 2 kHz with a 5 s
outage loses nothing; with a 30 s outage the lost range is exactly what the sensor overwrote."""

from __future__ import annotations

import asyncio
import time

import edfio
import numpy as np
import pytest
from muwatch.device import Device, StreamConfig
from muwatch.session import SessionStore
from muwatch.session.recorder import Recorder
from muwatch.transports.ble import BleTransport
from recordkit import expected, need_sim_device, write_source

pytestmark = pytest.mark.slow

FS = 2000
CHANNELS = (1, 2, 3, 4, 5, 6, 7, 8)
SECONDS = 60.0


def _twin(stem, uid: str):  # type: ignore[no-untyped-def]
    need_sim_device()
    try:
        from muwatch.sim.device import SimDeviceConfig
        from muwatch.sim.radio_twin import BleTwin, RadioOptions
    except ImportError as exc:
        pytest.skip(f"the BLE twin (muwatch.sim.radio_twin) is not available: {exc}")
    return BleTwin(SimDeviceConfig(signal=stem, uid=uid), RadioOptions(phy="2M")).start()


async def _record(twin, store: SessionStore, outage_at: float, outage_s: float) -> dict:  # type: ignore[no-untyped-def]
    from muwatch.sim.radio import RadioControl

    facts: dict = {"resends": [], "overruns": [], "drops": []}
    transport = BleTransport(twin.name, backend=twin.backend_spec, pair=True)
    dev = Device(transport, connect_timeout=30.0, request_timeout=5.0, backoff=(0.1, 1.0))
    real_resend = dev.resend

    async def spy(first: int, count: int):  # type: ignore[no-untyped-def]
        r = await real_resend(first, count)
        facts["resends"].append((first, count, r))
        return r

    dev.resend = spy  # type: ignore[method-assign]

    class Watch:
        def on_link(self, state: str, detail: str) -> None:
            if state == "lost":
                facts["drops"].append(dev.tracker.hwm)

        def on_event(self, ev) -> None:  # type: ignore[no-untyped-def]
            if ev.kind == "OVERRUN":
                facts["overruns"].append((ev.fields["first_lost_index"], ev.fields["count"]))

    dev.add_listener(Watch())
    await dev.open()
    rec = Recorder(dev, store, subject="p01", muscle="FDI", task="grip", on_warning=lambda m: None)
    radio = RadioControl(twin.control)
    try:
        await rec.start(StreamConfig(rate_hz=FS, channels=CHANNELS))
        facts["ring"] = dev.device_info.ring_capacity
        t0 = time.monotonic()
        await asyncio.sleep(outage_at)
        await radio.outage(outage_s)
        await asyncio.sleep(max(0.0, t0 + SECONDS - time.monotonic()))
        facts["summary"] = await rec.stop(drain_timeout=40.0)
    finally:
        await radio.close()
        await dev.close()
    return facts


def _file(store: SessionStore, summary: dict) -> np.ndarray:
    sid = summary["session_id"]
    bdf = edfio.read_bdf(store.sessions_dir / sid / f"{sid}.bdf")
    n = summary["n_samples"]
    return np.stack([s.digital[:n] for s in bdf.signals], axis=1)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):  # type: ignore[no-untyped-def]
    """Both acceptance recordings, run at the same time on two twins (halves the wall time)."""
    tmp = tmp_path_factory.mktemp("ble")
    src5, source5 = write_source(tmp, 70, FS, seed=21)
    src30, source30 = write_source(tmp, 70, FS, seed=22)
    store5, store30 = SessionStore(tmp / "data5"), SessionStore(tmp / "data30")
    twin5 = _twin(src5, "a1b2c3d40005")  # two sensors: two names and addresses
    try:
        twin30 = _twin(src30, "a1b2c3d40030")
    except BaseException:
        twin5.close()
        raise

    async def both():  # type: ignore[no-untyped-def]
        return await asyncio.gather(
            _record(twin5, store5, 27.5, 5.0), _record(twin30, store30, 15.0, 30.0)
        )

    try:
        f5, f30 = asyncio.run(asyncio.wait_for(both(), 240))
    finally:
        twin5.close()
        twin30.close()
    return {"5": (f5, store5, source5), "30": (f30, store30, source30)}


def test_60s_with_a_5s_outage_holds_every_sample_bit_identical(recordings):
    facts, store, source = recordings["5"]
    summary = facts["summary"]
    assert facts["drops"], "the outage did not drop the link"
    assert summary["lost_samples"] == 0 and summary["gaps"] == []
    assert summary["backfilled_samples"] >= 4 * FS, (
        facts["drops"],
        facts["resends"],
        summary["stats"],
        summary["annotations"],
    )
    n = summary["n_samples"]
    assert n >= (SECONDS - 1) * FS
    assert np.array_equal(_file(store, summary), expected(source, n, list(CHANNELS)))


def test_60s_with_a_30s_outage_loses_exactly_what_the_sensor_overwrote(recordings):
    facts, store, source = recordings["30"]
    summary = facts["summary"]
    n = summary["n_samples"]
    ring_s = facts["ring"] / FS
    assert ring_s < 30, "the sensor's buffer holds the whole outage: this proves nothing"
    # What the sensor said it no longer has: everything older than the oldest sample it held
    # when first asked (RESEND answer), and the ranges of its OVERRUN events.
    reported = np.zeros(n, bool)
    reported[facts["drops"][0] : facts["resends"][0][2].oldest_index] = True
    for f, c in facts["overruns"]:
        reported[f : f + c] = True
    lost = np.zeros(n, bool)
    for g in summary["gaps"]:
        lost[g["first"] : g["first"] + g["count"]] = True
    gaps = [(g["first"], g["count"], g["cause"]) for g in summary["gaps"]]
    assert np.array_equal(lost, reported), (gaps, facts["overruns"], facts["resends"][:2])
    assert int(lost.sum()) == summary["lost_samples"]
    first, count, cause = gaps[0]
    assert first == facts["drops"][0] and "overwritten" in cause
    assert (30 - ring_s - 3) * FS <= count <= (30 - ring_s + 3) * FS
    got = _file(store, summary)
    want = expected(source, n, list(CHANNELS))
    assert np.array_equal(got[~lost], want[~lost]), "received samples differ from the source"
    assert np.all(got[lost] == 0)
