"""End to end inside the firmware: signal-source codes -> ADS1299 model -> driver -> ring ->
frames, bit for bit; channel subsets, 16-bit format, gain scaling, trigger stamps, and a
device clock that stays continuous across the ESP32 tick wrap."""

import numpy as np
import pytest
from muwatch.protocol import EventCode
from muwatch.sim.ads1299 import write_signal_source

N = 3000


@pytest.fixture
def source(tmp_path):
    rng = np.random.default_rng(7)
    codes = rng.integers(-(2**23), 2**23, size=(N, 8), dtype=np.int64)
    codes[100, 2] = 2**23 - 1  # a saturated sample
    stem = tmp_path / "src"
    write_signal_source(stem, codes, 2000.0, {"gain": 24, "triggers": [0.25, 0.75]})
    return stem, codes


def _run(fw, stem, configure="", seconds=2.0):
    return fw.run(
        f"""
from fwharness import *
dev, link = make_device(ROOT, ring_bytes=62000, signal={str(stem)!r})
{configure}
link.request(P.OP_START, rid=1)
run(dev, {int(seconds * 1e6)})
link.request(P.OP_STOP, rid=2)
run(dev, 30_000)
hexframes(link.take())
""",
        heapsize="3000k",
    )


def _stack(data):
    idx = np.concatenate([d.first_index + np.arange(d.n_samples) for d in data])
    return idx, np.concatenate([d.samples for d in data])


def test_samples_equal_the_source_codes_bit_for_bit_looped(fw, source):
    stem, codes = source
    r = _run(fw, stem, seconds=4.0)
    idx, s = _stack(r.data())
    assert np.array_equal(idx, np.arange(len(idx))) and len(idx) > N  # looped at least once
    assert np.array_equal(s, codes[idx % N])
    sat = [d for d in r.data() if d.first_index <= 100 < d.first_index + d.n_samples]
    assert all(d.flags & 0x02 for d in sat)  # SATURATED on the frame with the rail
    # device time: 9 samples x 500 µs per frame, continuous across the 2**30 µs tick wrap
    t = np.array([d.device_time_us for d in r.data()], dtype=np.int64)
    assert set(np.diff(t)) == {4500}


def test_channel_subset_and_16_bit_format(fw, source):
    stem, codes = source
    r = _run(fw, stem, "link.request(P.OP_CONFIGURE, bytes((3, 0b10100101, 6, 0, 0x10)), rid=9)")
    idx, s = _stack(r.data())
    assert r.data()[0].samples.shape[1] == 4
    assert np.array_equal(s, codes[idx % N][:, [0, 2, 5, 7]] >> 8)
    assert len(r.data()[0].samples) == (244 - 18) // (4 * 2)  # frame filled to the budget


def test_a_lower_gain_scales_the_codes(fw, source):
    stem, codes = source
    r = _run(fw, stem, "link.request(P.OP_CONFIGURE, bytes((3, 0xFF, 5, 0, 0x18)), rid=9)")
    idx, s = _stack(r.data())
    assert np.array_equal(s, (codes[idx % N] * 12) // 24)


def test_trigger_edges_are_stamped_with_their_sample_index(fw, source):
    stem, _ = source
    r = _run(fw, stem, seconds=2.0)
    trig = [e.event for e in r.events() if e.code == EventCode.TRIGGER]
    got = [(t.sample_index, t.edge) for t in trig]
    # 0.25 s and 0.75 s at 2 kHz, looped every 1.5 s; pulses last one conversion
    assert got == [(500, 1), (501, 0), (1500, 1), (1501, 0), (3500, 1), (3501, 0)]
    frames = {d.first_index: d for d in r.data()}
    f = frames[495]  # the frame holding sample 500 (frames of 9 from 0)
    assert trig[0].device_time_us - f.device_time_us == (500 - 495) * 500  # same clock as DRDY
