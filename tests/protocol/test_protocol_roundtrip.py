"""Property tests: every frame type survives encode -> decode (one unit, and inside a
serial stream cut anywhere), and request builders validate their parameters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from muwatch.protocol import (
    GAINS,
    HOST_TYPES,
    RATES_HZ,
    SYNC,
    BatteryLow,
    Config,
    DataFrame,
    DeviceInfo,
    DeviceStatus,
    EventFrame,
    LeadOff,
    Log,
    Opcode,
    Overrun,
    ProtocolError,
    RequestError,
    RequestFrame,
    ResendResult,
    ResponseFrame,
    State,
    Status,
    StreamDecoder,
    Trigger,
    build_configure,
    build_marker,
    build_resend,
    build_set_time,
    decode_frame,
    encode_data,
    encode_event,
    encode_request,
    encode_response,
    parse_response_body,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
short_text = st.text(max_size=20).filter(lambda s: len(s.encode()) <= 30)


@st.composite
def data_frames(draw) -> DataFrame:
    mask = draw(st.integers(1, 0xFF))
    fmt = draw(st.sampled_from([0x18, 0x10]))
    nch = bin(mask).count("1")
    ns = draw(st.integers(1, 40))
    bits = 24 if fmt == 0x18 else 16
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    edge = st.sampled_from([lo, hi, 0, -1, 1, lo + 1, hi - 1])
    values = draw(
        st.lists(
            st.lists(st.one_of(st.integers(lo, hi), edge), min_size=nch, max_size=nch),
            min_size=ns,
            max_size=ns,
        )
    )
    return DataFrame(
        draw(st.integers(0, 0x1F)),
        fmt,
        draw(u16),
        mask,
        draw(u32),
        draw(u32),
        np.array(values, dtype=np.int32).reshape(ns, nch),
    )


events = st.one_of(
    st.builds(LeadOff, u32, u8, u8),
    st.builds(BatteryLow, u16, u8),
    st.builds(Overrun, u32, u32, st.sampled_from([1, 2])),
    st.builds(Trigger, u32, u32, st.sampled_from([0, 1])),
    st.builds(State, st.sampled_from([0, 1]), u32, st.integers(0, 3)),
    st.builds(Log, st.integers(0, 3), st.text(max_size=50).filter(lambda s: len(s.encode()) < 160)),
)

configs = st.builds(
    Config,
    st.integers(0, 6),
    st.integers(1, 0xFF),
    st.integers(0, 6),
    st.integers(0, 3),
    st.sampled_from([0x18, 0x10]),
)
results = st.one_of(
    st.builds(DeviceInfo, u8, u8, u8, u8, u32, u8, short_text, short_text, short_text, short_text),
    st.builds(DeviceStatus, u8, u8, u16, u8, u8, u32, u32, u32, u32, u16, u8, configs),
    st.builds(ResendResult, u32, u32, u32, u32),
    configs,
)


@settings(max_examples=150, deadline=None)
@given(data_frames())
def test_data_frame_roundtrip(frame: DataFrame) -> None:
    raw = frame.encode()
    assert len(raw) == 18 + frame.samples.size * (3 if frame.fmt == 0x18 else 2)
    back = decode_frame(raw)
    assert back == frame
    assert back.samples.dtype == np.int32


@settings(max_examples=150, deadline=None)
@given(u16, events)
def test_event_roundtrip(seq: int, ev) -> None:
    raw = encode_event(seq, ev)
    back = decode_frame(raw)
    assert isinstance(back, EventFrame)
    assert (back.event_seq, back.code, back.event) == (seq, ev.code, ev)


@settings(max_examples=150, deadline=None)
@given(u16, results)
def test_response_roundtrip(rid: int, result) -> None:
    op = {
        DeviceInfo: Opcode.GET_INFO,
        DeviceStatus: Opcode.GET_STATUS,
        ResendResult: Opcode.RESEND,
        Config: Opcode.CONFIGURE,
    }[type(result)]
    raw = encode_response(rid, op, Status.OK, result)
    back = decode_frame(raw)
    assert isinstance(back, ResponseFrame)
    assert back.request_id == rid and back.opcode == op and back.result() == result
    assert parse_response_body(op, back.body) == result


@settings(max_examples=100, deadline=None)
@given(u16, st.integers(1, 8), st.text(max_size=60))
def test_error_response_roundtrip(rid: int, status: int, msg: str) -> None:
    raw = encode_response(rid, 0x04, status, msg)
    back = decode_frame(raw)
    assert isinstance(back, ResponseFrame) and not back.ok
    # Messages are cut at 160 bytes of UTF-8; what arrives is a prefix of what was meant.
    assert msg.encode()[:160].decode("utf-8", "ignore").startswith(back.message.rstrip("\ufffd"))


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 0xFFFE),
    st.sampled_from(RATES_HZ),
    st.sets(st.integers(1, 8), min_size=1),
    st.sampled_from(GAINS),
    st.sampled_from(["normal", "test", "lead-off", "shorted"]),
    st.sampled_from([16, 24]),
)
def test_configure_request_roundtrip(rid, rate, chans, gain, mode, fmt) -> None:
    raw = build_configure(
        rate_hz=rate, channels=sorted(chans), gain=gain, mode=mode, fmt=fmt
    ).encode(rid)
    back = decode_frame(raw, accept=HOST_TYPES)
    assert isinstance(back, RequestFrame) and back.request_id == rid
    cfg = back.params()
    assert isinstance(cfg, Config) and not cfg.problems()
    assert (cfg.rate_hz, cfg.channels, cfg.gain, cfg.fmt) == (
        rate,
        tuple(sorted(chans)),
        gain,
        0x18 if fmt == 24 else 0x10,
    )


@settings(max_examples=100, deadline=None)
@given(
    u16,
    st.text(max_size=64).filter(lambda s: len(s.encode()) <= 64),
    u32,
    st.integers(1, 2**32 - 1),
)
def test_other_request_roundtrips(code, label, first, count) -> None:
    m = decode_frame(build_marker(code, label).encode(1), accept=HOST_TYPES).params()
    assert (m.code, m.label) == (code, label)
    r = decode_frame(build_resend(first, count).encode(2), accept=HOST_TYPES).params()
    assert (r.first_index, r.count) == (first, count)
    t = decode_frame(build_set_time(first * 1000).encode(3), accept=HOST_TYPES).params()
    assert t.host_time_us == first * 1000


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(data_frames(), st.tuples(u16, events)), min_size=1, max_size=12),
    st.lists(st.integers(1, 300), min_size=1, max_size=30),
)
def test_stream_roundtrip_any_cut(items, cuts) -> None:
    """Frames of every type, back to back, fed in arbitrary pieces: all come out, in order."""
    raws = [
        it.encode() if isinstance(it, DataFrame) else encode_event(it[0], it[1]) for it in items
    ]
    stream = b"".join(SYNC + r for r in raws)
    dec = StreamDecoder()
    out = []
    pos = 0
    for c in cuts:
        out += dec.feed(stream[pos : pos + c])
        pos += c
    out += dec.feed(stream[pos:])
    out += dec.close()
    assert [f.encode() for f in out] == raws
    st_ = dec.stats()
    assert st_.garbage_bytes == st_.crc_errors == st_.false_syncs == 0 and not st_.truncated


def test_builders_refuse_bad_values() -> None:
    cases = [
        (lambda: build_configure(rate_hz=3000), "rate_hz 3000"),
        (lambda: build_configure(gain=3), "gain 3"),
        (lambda: build_configure(channels=[0]), "channel 0"),
        (lambda: build_configure(channels=[9]), "channel 9"),
        (lambda: build_configure(channels=[]), "empty"),
        (lambda: build_configure(channels=[1, 1]), "twice"),
        (lambda: build_configure(channels=0), "mask"),
        (lambda: build_configure(channels=0x100), "mask"),
        (lambda: build_configure(mode="sleep"), "mode 'sleep'"),
        (lambda: build_configure(mode=7), "mode 7"),
        (lambda: build_configure(fmt=12), "fmt 12"),
        (lambda: build_marker(70000), "marker code"),
        (lambda: build_marker(1, "x" * 65), "64"),
        (lambda: build_marker(1, "é" * 33), "66 bytes"),
        (lambda: build_resend(-1, 5), "negative"),
        (lambda: build_resend(0, 0), "count 0"),
        (lambda: build_set_time(-5), "64-bit"),
    ]
    for fn, words in cases:
        with pytest.raises(RequestError, match=words):
            fn()
    with pytest.raises(ValueError, match="reserved"):
        encode_request(0xFFFF, Opcode.PING)
    # RequestError is both a ValueError and a muwatch UsageError (CLI exit code 2).
    assert issubclass(RequestError, ValueError) and RequestError.exit_code == 2


def test_encoders_refuse_impossible_frames() -> None:
    ok = dict(channel_mask=0x03, first_index=0, device_time_us=0)
    with pytest.raises(ValueError, match="3 channels, channel_mask 0x03 selects 2"):
        encode_data(np.zeros((4, 3), np.int32), **ok)
    with pytest.raises(ValueError, match="1..255"):
        encode_data(np.zeros((256, 2), np.int32), **ok)
    with pytest.raises(ValueError, match="24-bit"):
        encode_data(np.full((1, 2), 1 << 23), **ok)
    with pytest.raises(ValueError, match="16-bit"):
        encode_data(np.full((1, 2), -(1 << 15) - 1), fmt=0x10, **ok)
    with pytest.raises(ValueError, match="160"):
        encode_event(0, 6, b"x" * 161)


def test_bad_bodies_raise_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="GET_STATUS body must be 30 bytes, got 29") as e:
        parse_response_body(Opcode.GET_STATUS, bytes(29))
    assert e.value.kind == "body"
    with pytest.raises(ProtocolError, match="GET_INFO .* runs past"):
        parse_response_body(Opcode.GET_INFO, bytes(9) + b"\x05abcd")
    with pytest.raises(ProtocolError, match="extra bytes"):
        parse_response_body(Opcode.GET_INFO, bytes(13) + b"!")
    with pytest.raises(ProtocolError, match="UTF-8"):
        parse_response_body(Opcode.GET_INFO, bytes(9) + b"\x01\xff" + bytes(3))
    with pytest.raises(ProtocolError, match="unknown opcode"):
        parse_response_body(0x42, b"")
    with pytest.raises(ProtocolError, match="empty body must be 0 bytes"):
        parse_response_body(Opcode.REBOOT, b"\x00")
    # A known event with a wrong-size body: one notification raises, a stream counts it.
    raw = encode_event(3, 0x01, b"\x00\x01")
    with pytest.raises(ProtocolError, match="LEAD_OFF body must be 6 bytes") as e:
        decode_frame(raw)
    assert e.value.kind == "body"
    dec = StreamDecoder()
    (frame,) = dec.feed(SYNC + raw)
    assert isinstance(frame, EventFrame) and frame.event is None and "6 bytes" in frame.error
    assert dec.bad_event_bodies == 1 and dec.bad_events[0][0] == 0
