"""docs/protocol.md section 7, host side: garbage, CRC errors, truncation, duplicates,
resent overlaps, reordering, holes in the index and in seq; counters that wrap."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from muwatch.protocol import (
    SYNC,
    DataFrame,
    Flag,
    IntervalSet,
    LeadOff,
    ProtocolError,
    SampleAssembler,
    SeqCounter,
    StreamDecoder,
    Unwrapper,
    decode_frame,
    encode_event,
)

N_CH = 4
MASK = 0x0F


def _values(start: int, n: int) -> np.ndarray:
    """Samples whose value tells their index (mod 2**23) and channel."""
    idx = (np.arange(start, start + n, dtype=np.int64) % (1 << 20))[:, None]
    return (idx * 8 + np.arange(N_CH)[None, :]).astype(np.int32)


def _frame(start: int, n: int, seq: int = 0, flags: int = 0, t: int = 0) -> DataFrame:
    return DataFrame(
        flags, 0x18, seq & 0xFFFF, MASK, start & 0xFFFFFFFF, t & 0xFFFFFFFF, _values(start, n)
    )


def _stream(frames: list[DataFrame]) -> bytes:
    return b"".join(SYNC + f.encode() for f in frames)


# -- serial stream behaviour ------------------------------------------------------------


def test_garbage_is_skipped_counted_and_located() -> None:
    a, b = _frame(0, 9).encode(), _frame(9, 9, seq=1).encode()
    junk1, junk2 = b"\x00\x11\x22", b"hello"
    stream = junk1 + SYNC + a + junk2 + SYNC + b
    dec = StreamDecoder()
    frames = dec.feed(stream) + dec.close()
    assert [f.first_index for f in frames] == [0, 9]
    assert dec.garbage_bytes == 8
    assert dec.stats().garbage_runs == [(0, 3), (3 + 2 + len(a), 5)]
    assert frames[1].offset == 3 + 2 + len(a) + 5


def test_bad_crc_delivers_nothing_and_resyncs() -> None:
    good = [_frame(9 * k, 9, seq=k) for k in range(3)]
    raw = [SYNC + f.encode() for f in good]
    broken = bytearray(raw[1])
    broken[30] ^= 0x04
    dec = StreamDecoder()
    frames = dec.feed(raw[0] + bytes(broken) + raw[2]) + dec.close()
    assert [f.first_index for f in frames] == [0, 18]
    assert dec.crc_errors == 1
    assert dec.garbage_bytes == len(broken)


def test_truncated_frame_is_reported_at_close_only() -> None:
    whole = SYNC + _frame(0, 9).encode()
    torn = (SYNC + _frame(9, 9, seq=1).encode())[:100]
    dec = StreamDecoder()
    assert len(dec.feed(whole + torn)) == 1
    assert dec.truncated == [] and dec.pending_bytes == 100  # it may still complete
    assert dec.close() == []
    assert dec.truncated == [(len(whole), 100)]
    assert dec.garbage_bytes == 0
    with pytest.raises(RuntimeError, match="after close"):
        dec.feed(b"\x00")


def test_wrong_version_or_type_is_a_false_sync_on_serial_and_an_error_on_ble() -> None:
    f = _frame(0, 2).encode()
    v2 = bytes([2]) + f[1:]
    t9 = f[:1] + bytes([9]) + f[2:]
    dec = StreamDecoder()
    frames = dec.feed(SYNC + v2 + SYNC + t9 + SYNC + f) + dec.close()
    assert len(frames) == 1 and dec.false_syncs == 2
    with pytest.raises(ProtocolError, match="version byte is 0x02") as e:
        decode_frame(v2)
    assert e.value.offset == 0
    with pytest.raises(ProtocolError, match="unknown frame type 0x09") as e:
        decode_frame(t9)
    assert e.value.offset == 1


def test_event_seq_holes_count_lost_events() -> None:
    dec = StreamDecoder()
    seqs = (65530, 65531, 65534, 65535, 0, 2, 1)
    raw = b"".join(SYNC + encode_event(s, LeadOff(s, 0, 0)) for s in seqs)
    events = dec.feed(raw)
    counter = SeqCounter(expect=65530)
    lost = [counter.update(ev.event_seq) for ev in events]
    assert lost == [0, 0, 2, 0, 0, 1, 0]  # 65532-65533 and 1 missing across the wrap
    assert counter.lost == 3 and counter.out_of_order == 1  # 1 arrives late, after 2


# -- SampleAssembler ----------------------------------------------------------------------


def _take(asm: SampleAssembler, frames: list[DataFrame]) -> dict[int, list[int]]:
    got: dict[int, list[int]] = {}
    for f in frames:
        for blk in asm.add(f):
            for i in range(blk.samples.shape[0]):
                assert blk.start + i not in got, "a sample index was handed out twice"
                got[blk.start + i] = blk.samples[i].tolist()
    return got


def test_duplicated_frame_is_dropped_and_counted() -> None:
    asm = SampleAssembler()
    f = _frame(0, 9)
    assert len(asm.add(f)) == 1
    assert asm.add(f) == []
    assert asm.duplicate_frames == 1 and asm.duplicate_samples == 9 and asm.samples == 9


def test_resent_overlap_is_dropped_rest_kept() -> None:
    asm = SampleAssembler()
    asm.add(_frame(0, 9, seq=0))
    asm.add(_frame(18, 9, seq=1))  # 9..17 missing
    assert asm.missing() == [(9, 18)]
    resent = _frame(5, 20, seq=2, flags=Flag.RESENT)  # covers 5..24: only 9..17 is new
    blocks = asm.add(resent)
    assert [(b.start, b.stop) for b in blocks] == [(9, 18)]
    assert np.array_equal(blocks[0].samples, _values(9, 9))
    assert blocks[0].resent and blocks[0].frame_start == 5
    assert asm.missing() == [] and asm.duplicate_samples == 11 and asm.resent_samples == 9


def test_resent_frame_filling_two_holes_gives_two_blocks() -> None:
    asm = SampleAssembler()
    for start in (0, 10, 20):
        asm.add(_frame(start, 5, seq=start // 10))
    assert asm.missing() == [(5, 10), (15, 20)]
    blocks = asm.add(_frame(3, 20, seq=3, flags=Flag.RESENT))
    assert [(b.start, b.stop) for b in blocks] == [(5, 10), (15, 20)]
    assert asm.missing() == []


def test_reordered_frames_are_placed_by_index() -> None:
    asm = SampleAssembler()
    frames = [_frame(9 * k, 9, seq=k) for k in range(6)]
    order = [0, 2, 1, 5, 3, 4]
    got = _take(asm, [frames[k] for k in order])
    assert sorted(got) == list(range(54))
    assert asm.missing() == []
    assert asm.out_of_order_frames == 3 and asm.lost_frames == 3  # seq is link-level only


def test_index_hole_is_an_exact_gap_and_seq_hole_counts_lost_frames() -> None:
    asm = SampleAssembler()
    asm.add(_frame(0, 9, seq=0))
    asm.add(_frame(27, 9, seq=3))  # frames 1 and 2 (indices 9..26) lost on the link
    assert asm.missing() == [(9, 27)] and asm.missing_samples() == 18
    assert asm.lost_frames == 2


def test_missing_from_origin_when_the_first_frame_is_lost() -> None:
    asm = SampleAssembler()  # after START the first sample is 0
    asm.add(_frame(9, 9, seq=1))
    assert asm.missing() == [(0, 9)] and asm.lost_frames == 1
    joined = SampleAssembler(origin=None, expect_seq=None)  # joining a running stream
    joined.add(_frame(900, 9, seq=100))
    assert joined.missing() == [] and joined.lost_frames == 0


def test_new_link_restarts_seq_but_not_the_index() -> None:
    asm = SampleAssembler()
    asm.add(_frame(0, 9, seq=0))
    asm.add(_frame(9, 9, seq=1))
    asm.new_link()
    asm.add(_frame(45, 9, seq=0))  # reconnected: seq restarts, samples 18..44 lost meanwhile
    assert asm.lost_frames == 0 and asm.missing() == [(18, 45)]


def test_configuration_change_within_a_stream_is_refused() -> None:
    asm = SampleAssembler()
    asm.add(_frame(0, 9))
    other = DataFrame(0, 0x18, 1, 0x03, 9, 0, np.zeros((9, 2), np.int32), offset=1234)
    with pytest.raises(ProtocolError, match="channel_mask 0x03") as e:
        asm.add(other)
    assert e.value.offset == 1234


def test_sample_index_wrap_is_contiguous() -> None:
    """first_index wraps at 2**32 (74.5 h at 16 kHz): no gap, no duplicate at the wrap."""
    start = 2**32 - 20
    asm = SampleAssembler(origin=start)
    frames = [_frame(start + 9 * k, 9, seq=k) for k in range(6)]
    assert frames[3].first_index == 7  # wrapped on the wire
    got = _take(asm, frames)
    assert sorted(got) == list(range(start, start + 54))
    assert asm.missing() == [] and asm.high == start + 54


def test_device_time_wrap_is_unwrapped() -> None:
    """The u32 µs clock wraps every 71.6 min: unwrapped device time keeps increasing."""
    step = 2250  # 9 samples at 4 kHz
    t0 = 2**32 - 10 * step - 7
    asm = SampleAssembler()
    times = []
    for k in range(25):
        (blk,) = asm.add(_frame(9 * k, 9, seq=k, t=t0 + k * step))
        times.append(blk.frame_time_us)
    assert times == [t0 + k * step for k in range(25)]
    assert times[-1] > 2**32


def test_unwrapper_rules() -> None:
    u = Unwrapper(32)
    assert u(10) == 10
    assert u(2**31 + 9) == 2**31 + 9  # forward by just under half the range
    assert u(5) == 2**32 + 5  # wrapped
    assert u(2**32 - 3) == 2**32 - 3  # an older value: back, reference unchanged
    assert u.reference == 2**32 + 5
    assert u.peek(100) == 2**32 + 100 and u.reference == 2**32 + 5
    with pytest.raises(ValueError, match="outside"):
        u(2**32)
    s = Unwrapper(16)
    assert s.unwrap_many([65534, 65535, 0, 1]) == [65534, 65535, 65536, 65537]


# -- property tests -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(1, 12), min_size=1, max_size=30),
    st.integers(0, 2**31),
)
def test_assembler_hands_out_each_index_once(origin: int, sizes: list[int], seed: int) -> None:
    """Live frames with losses and duplicates, then resent ranges, all shuffled a little:
    the returned samples are exactly the union of what arrived, each index once, with
    the right values; missing() is exactly the complement; the counters add up."""
    rng = random.Random(seed)
    starts = np.cumsum([0] + sizes[:-1]) + origin
    live = [_frame(int(s), n, seq=k) for k, (s, n) in enumerate(zip(starts, sizes, strict=True))]
    total = sum(sizes)
    arrived: list[DataFrame] = []
    for f in live:
        r = rng.random()
        if r < 0.25:
            continue  # lost
        arrived.append(f)
        if r > 0.9:
            arrived.append(f)  # duplicated
    for _ in range(rng.randint(0, 4)):
        a = origin + rng.randrange(total)
        n = rng.randint(1, min(20, origin + total - a))
        arrived.append(_frame(a, n, seq=len(live), flags=Flag.RESENT))
    # Local reordering (a resent frame may come before or after live ones).
    for i in range(len(arrived) - 1):
        if rng.random() < 0.2:
            arrived[i], arrived[i + 1] = arrived[i + 1], arrived[i]
    asm = SampleAssembler(origin=origin)
    got = _take(asm, arrived)
    want = set()
    for f in arrived:
        s = origin + ((f.first_index - origin) % 2**32)
        want.update(range(s, s + f.n_samples))
    assert set(got) == want
    for i, v in got.items():
        assert v == _values(i, 1)[0].tolist()
    hi = max(want) + 1 if want else origin
    assert asm.missing() == IntervalSetHelper.complement(want, origin, hi)
    assert asm.samples == len(want)
    assert asm.samples + asm.duplicate_samples == sum(f.n_samples for f in arrived)


class IntervalSetHelper:
    @staticmethod
    def complement(points: set[int], lo: int, hi: int) -> list[tuple[int, int]]:
        out = []
        run = None
        for i in range(lo, hi):
            if i not in points:
                run = [i, i + 1] if run is None else [run[0], i + 1]
            elif run is not None:
                out.append(tuple(run))
                run = None
        if run is not None:
            out.append(tuple(run))
        return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 30)), max_size=40))
def test_interval_set_against_a_python_set(ranges: list[tuple[int, int]]) -> None:
    s = IntervalSet()
    ref: set[int] = set()
    for a, n in ranges:
        new = s.add(a, a + n)
        new_points = {i for x, y in new for i in range(x, y)}
        assert new_points == set(range(a, a + n)) - ref
        assert all(y > x for x, y in new)
        ref |= set(range(a, a + n))
        r = s.ranges()
        assert all(r[j][1] < r[j + 1][0] for j in range(len(r) - 1))  # disjoint, not touching
        assert s.total() == len(ref)
    for probe in range(0, 240, 7):
        assert (probe in s) == (probe in ref)
    assert s.complement(0, 240) == IntervalSetHelper.complement(ref, 0, 240)


def test_stream_to_assembler_end_to_end() -> None:
    """Bytes with garbage, a CRC error and a duplicate, through decoder and assembler."""
    frames = [_frame(9 * k, 9, seq=k) for k in range(8)]
    parts = [SYNC + f.encode() for f in frames]
    bad = bytearray(parts[3])
    bad[40] ^= 1
    stream = b"".join(parts[:3]) + b"\x00junk" + bytes(bad) + b"".join(parts[4:]) + parts[5]
    dec = StreamDecoder()
    asm = SampleAssembler()
    for f in dec.feed(stream) + dec.close():
        asm.add(f)
    assert dec.crc_errors == 1 and dec.garbage_bytes == 5 + len(bad)
    assert asm.missing() == [(27, 36)] and asm.duplicate_frames == 1 and asm.lost_frames == 1
    assert asm.out_of_order_frames == 1  # the duplicate's seq is behind


def test_volts_scaling() -> None:
    from muwatch.protocol import volts_per_code

    f = DataFrame(0, 0x18, 0, 0x01, 0, 0, np.array([[(1 << 23) - 1], [-(1 << 23)]], np.int32))
    v = f.volts(gain=1)
    assert v[1, 0] == pytest.approx(-4.5) and v[0, 0] == pytest.approx(4.5, rel=1e-6)
    assert volts_per_code(24) == pytest.approx(9.0 / 24 / 2**24)
    f16 = DataFrame(0, 0x10, 0, 0x01, 0, 0, np.array([[-(1 << 15)]], np.int32))
    assert f16.volts(gain=24)[0, 0] == pytest.approx(-4.5 / 24)
    assert np.array_equal(f16.codes24(), [[-(1 << 23)]])
    with pytest.raises(ValueError, match="gain 5"):
        volts_per_code(5)
