"""Host protocol (muwatch.protocol) against the golden vectors in tests/vectors/."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from muwatch.protocol import (
    DEVICE_TYPES,
    EVENT_TYPES,
    HOST_TYPES,
    DataFrame,
    EventCode,
    EventFrame,
    Opcode,
    ProtocolError,
    RequestFailed,
    RequestFrame,
    ResponseFrame,
    StreamDecoder,
    build_configure,
    build_marker,
    build_resend,
    build_set_time,
    crc16,
    decode_frame,
    encode_data,
    encode_event,
    encode_response,
    serial_frame,
)
from muwatch.protocol.requests import BUILDERS

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
FRAMES = json.loads((VECTORS / "frames.json").read_text())
CORRUPT = json.loads((VECTORS / "corrupt.json").read_text())["cases"]
STREAMS = json.loads((VECTORS / "streams.json").read_text())["cases"]


def _by_type(t: str) -> list[dict]:
    return [c for c in FRAMES["frames"] if c["type"] == t]


def _ids(cases: list[dict]) -> list[str]:
    return [c["name"] for c in cases]


def test_vectors_are_up_to_date() -> None:
    """The checked-in JSON is what the generator produces."""
    proc = subprocess.run(
        [sys.executable, str(VECTORS / "make_vectors.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_crc_check_value() -> None:
    assert crc16(FRAMES["crc_check"]["ascii"].encode()) == FRAMES["crc_check"]["crc16"] == 0x29B1


def test_vectors_cover_the_protocol() -> None:
    ops = {c["fields"]["opcode"] for c in _by_type("REQUEST")}
    assert ops == {int(o) for o in Opcode}
    ok_ops = {c["fields"]["opcode"] for c in _by_type("RESPONSE") if c["fields"]["status"] == 0}
    assert ok_ops == {int(o) for o in Opcode}
    statuses = {c["fields"]["status"] for c in _by_type("RESPONSE")}
    assert statuses == set(range(9))
    assert {c["fields"]["code"] for c in _by_type("EVENT")} >= set(EVENT_TYPES)
    masks = {c["fields"]["channel_mask"] for c in _by_type("DATA")}
    assert {bin(m).count("1") for m in masks} >= {1, 2, 4, 8}


@pytest.mark.parametrize("case", _by_type("DATA"), ids=_ids(_by_type("DATA")))
def test_data_vector(case: dict) -> None:
    raw = bytes.fromhex(case["hex"])
    f = case["fields"]
    frame = decode_frame(raw)
    assert isinstance(frame, DataFrame)
    assert (frame.flags, frame.fmt, frame.seq, frame.channel_mask) == (
        f["flags"],
        f["fmt"],
        f["seq"],
        f["channel_mask"],
    )
    assert (frame.first_index, frame.device_time_us) == (f["first_index"], f["device_time_us"])
    assert frame.channels == tuple(f["channels"])
    assert frame.samples.dtype == np.int32
    assert frame.samples.shape == (f["n_samples"], len(f["channels"]))
    assert frame.samples.tolist() == f["samples"]
    again = encode_data(
        np.array(f["samples"]),
        flags=f["flags"],
        fmt=f["fmt"],
        seq=f["seq"],
        channel_mask=f["channel_mask"],
        first_index=f["first_index"],
        device_time_us=f["device_time_us"],
    )
    assert again == raw
    assert frame.encode() == raw


@pytest.mark.parametrize("case", _by_type("EVENT"), ids=_ids(_by_type("EVENT")))
def test_event_vector(case: dict) -> None:
    raw = bytes.fromhex(case["hex"])
    f = case["fields"]
    frame = decode_frame(raw)
    assert isinstance(frame, EventFrame)
    assert (frame.event_seq, frame.code, frame.body.hex()) == (f["event_seq"], f["code"], f["body"])
    if f["event"] is None:
        assert frame.event is None and frame.error is None
        assert encode_event(f["event_seq"], f["code"], bytes.fromhex(f["body"])) == raw
        return
    ev = frame.event
    assert ev is not None and EventCode(ev.code).name == f["event"]["kind"]
    for k, v in f["event"].items():
        if k != "kind":
            assert getattr(ev, k) == v, k
    assert encode_event(f["event_seq"], ev) == raw


def _compare(obj: object, want: dict) -> None:
    for k, v in want.items():
        got = getattr(obj, k)
        if isinstance(v, dict):
            _compare(got, v)
        elif isinstance(v, list):
            assert list(got) == v, k
        else:
            assert got == v, k


@pytest.mark.parametrize("case", _by_type("REQUEST"), ids=_ids(_by_type("REQUEST")))
def test_request_vector(case: dict) -> None:
    raw = bytes.fromhex(case["hex"])
    f = case["fields"]
    with pytest.raises(ProtocolError) as e:
        decode_frame(raw)  # a host does not accept requests
    assert e.value.kind == "type" and e.value.offset == 1
    frame = decode_frame(raw, accept=HOST_TYPES)
    assert isinstance(frame, RequestFrame)
    assert (frame.request_id, frame.opcode, frame.body.hex()) == (
        f["request_id"],
        f["opcode"],
        f["body"],
    )
    p = f["params"]
    op = Opcode(f["opcode"])
    if op == Opcode.CONFIGURE:
        _compare(frame.params(), p)
        req = build_configure(
            rate_hz=p["rate_hz"],
            channels=p["channels"],
            gain=p["gain"],
            mode=p["mode"],
            fmt=p["fmt"],
        )
        # The same configuration by names and bit widths.
        alt = build_configure(
            rate_hz=p["rate_hz"],
            channels=p["channel_mask"],
            gain=p["gain"],
            mode=p["mode_name"],
            fmt=24 if p["fmt"] == 0x18 else 16,
        )
        assert alt == req
    elif op == Opcode.SET_TIME:
        _compare(frame.params(), p)
        req = build_set_time(p["host_time_us"])
    elif op == Opcode.MARKER:
        _compare(frame.params(), p)
        req = build_marker(p["code"], p["label"])
    elif op == Opcode.RESEND:
        _compare(frame.params(), p)
        req = build_resend(p["first_index"], p["count"])
    else:
        assert frame.params() is None and p == {}
        req = BUILDERS[op]()
    assert req.opcode == op
    assert req.encode(f["request_id"]) == raw


@pytest.mark.parametrize("case", _by_type("RESPONSE"), ids=_ids(_by_type("RESPONSE")))
def test_response_vector(case: dict) -> None:
    raw = bytes.fromhex(case["hex"])
    f = case["fields"]
    frame = decode_frame(raw)
    assert isinstance(frame, ResponseFrame)
    assert (frame.request_id, frame.opcode, frame.status, frame.body.hex()) == (
        f["request_id"],
        f["opcode"],
        f["status"],
        f["body"],
    )
    if f["status"] == 0:
        result = frame.result()
        _compare(result, f["result"])
        assert encode_response(f["request_id"], f["opcode"], 0, result) == raw
    else:
        assert frame.message == f["message"]
        with pytest.raises(RequestFailed) as e:
            frame.result()
        assert e.value.status == f["status"] and e.value.message == f["message"]
        assert f["status_name"] in str(e.value)
        assert encode_response(f["request_id"], f["opcode"], f["status"], f["message"]) == raw


@pytest.mark.parametrize("case", CORRUPT, ids=_ids(CORRUPT))
def test_corrupt_vector(case: dict) -> None:
    raw = bytes.fromhex(case["hex"])
    accept = DEVICE_TYPES if case["side"] == "host" else HOST_TYPES
    with pytest.raises(ProtocolError) as e:
        decode_frame(raw, accept=accept)
    assert e.value.kind == case["kind"], str(e.value)
    assert e.value.offset == case["offset"], str(e.value)
    assert f"at byte {case['offset']}" in str(e.value)


def _decode_stream(data: bytes, accept, chunks: list[int]) -> tuple[list, StreamDecoder]:
    dec = StreamDecoder(accept)
    frames = []
    pos = 0
    for n in chunks:
        frames += dec.feed(data[pos : pos + n])
        pos += n
    frames += dec.feed(data[pos:])
    frames += dec.close()
    return frames, dec


def _chunkings(n: int) -> dict[str, list[int]]:
    rng = random.Random(n)
    rand = []
    left = n
    while left > 0:
        k = rng.randint(1, 40)
        rand.append(k)
        left -= k
    return {"whole": [], "bytes": [1] * n, "random": rand, "halves": [n // 2]}


@pytest.mark.parametrize("case", STREAMS, ids=_ids(STREAMS))
def test_stream_vector(case: dict) -> None:
    data = bytes.fromhex(case["hex"])
    e = case["expect"]
    accept = DEVICE_TYPES if case["direction"] == "device" else HOST_TYPES
    for how, chunks in _chunkings(len(data)).items():
        frames, dec = _decode_stream(data, accept, chunks)
        got = [(f.offset, f.encode().hex()) for f in frames]
        want = [(f["offset"], f["hex"]) for f in e["frames"]]
        assert got == want, how
        st = dec.stats()
        assert [list(r) for r in st.garbage_runs] == e["garbage"], how
        assert st.garbage_bytes == e["garbage_bytes"], how
        assert st.crc_errors == e["crc_errors"], how
        assert st.false_syncs == e["false_syncs"], how
        assert [list(t) for t in st.truncated] == e["truncated"], how
        # Every byte is accounted for exactly once.
        assert st.frame_bytes + st.garbage_bytes + st.truncated_bytes == len(data)
        assert st.bytes_in == len(data)


def test_serial_frame_prefix() -> None:
    raw = bytes.fromhex(_by_type("EVENT")[0]["hex"])
    assert serial_frame(raw) == b"\xa5\x5a" + raw
