"""The command handler against good, bad and random requests: exactly one response per
request, an error status with a message for every bad one, and the device keeps working."""

import struct

import pytest
from mpy import MicroPythonError
from muwatch.protocol import Opcode, Status, decode_frame

PRELUDE = """
from fwharness import *
dev, link = make_device(ROOT)
def req(op, body=b"", rid=1):
    link.request(op, body, rid)
def raw(b):
    dev.on_request(link, b, 0, len(b))
    dev.tick()
"""


def _resp(r, rid=None):
    out = r.responses()
    return [x for x in out if rid is None or x.request_id == rid]


def test_good_requests_answer_with_their_bodies(fw):
    r = fw.run(
        PRELUDE
        + """
req(P.OP_GET_INFO, rid=1)
req(P.OP_PING, rid=2)
req(P.OP_SET_TIME, u32(123) + u32(456), rid=3)
req(P.OP_CONFIGURE, bytes((2, 0b11, 5, 0, 0x10)), rid=4)
req(P.OP_START, rid=5)
run(dev, 100_000)
req(P.OP_MARKER, bytes((7, 0)) + "grip".encode(), rid=6)
req(P.OP_GET_STATUS, rid=7)
req(P.OP_STOP, rid=8)
run(dev, 20_000)
hexframes(link.take())
"""
    )
    by = {x.request_id: x for x in r.responses()}
    assert all(by[i].status == Status.OK for i in range(1, 9))
    info = by[1].body
    assert info[0] == 1 and info[1] == 8 and info[2] == 0b11111 and info[3] == 45
    strings, o = [], 9
    for _ in range(4):
        n = info[o]
        strings.append(info[o + 1 : o + 1 + n].decode())
        o += 1 + n
    assert strings[1] == "sim-xiao-esp32s3" and strings[3].startswith("muw-")
    assert by[4].body == bytes((2, 0b11, 5, 0, 0x10))
    marker = struct.unpack("<I", by[6].body)[0]
    assert 90 <= marker <= 100  # 1 kHz for 100 ms minus settling: the next conversion
    st = by[7].body
    assert st[0] == 1 and struct.unpack_from("<I", st, 6)[0] >= marker
    assert st[-5:] == bytes((2, 0b11, 5, 0, 0x10))
    stop_next = struct.unpack("<I", by[8].body)[0]
    # 16-bit frames of the two channels, every sample up to STOP delivered, in order
    data = r.data()
    assert all(d.fmt == 0x10 and d.samples.shape[1] == 2 for d in data)
    assert sum(d.n_samples for d in data) == stop_next
    assert [d.first_index for d in data] == sorted(d.first_index for d in data)


@pytest.mark.parametrize(
    "op,body",
    [
        (Opcode.GET_INFO, b"\x00"),
        (Opcode.START, b"\x00"),
        (Opcode.STOP, b"\x00\x00"),
        (Opcode.CONFIGURE, b"\x00\x01\x02\x03"),
        (Opcode.GET_STATUS, b"\x01"),
        (Opcode.SET_TIME, b"\x00" * 7),
        (Opcode.MARKER, b"\x01"),
        (Opcode.MARKER, b"\x01\x00" + b"x" * 65),
        (Opcode.RESEND, b"\x00" * 9),
        (Opcode.REBOOT, b"\x00"),
        (Opcode.PING, b"\x00" * 4),
        (Opcode.ENTER_REPL, b"\x00"),
    ],
)
def test_wrong_body_length_is_bad_length(fw, op, body):
    r = fw.run(PRELUDE + f"req({int(op)}, {body!r}, rid=9)\nhexframes(link.take())\n")
    (resp,) = _resp(r, 9)
    assert resp.status == Status.BAD_LENGTH and resp.opcode == op
    assert b"wrong length" in resp.body


@pytest.mark.parametrize("op", [0x00, 0x0C, 0x7F, 0xFF])
def test_unknown_opcode(fw, op):
    r = fw.run(PRELUDE + f"req({op}, rid=3)\nhexframes(link.take())\n")
    (resp,) = _resp(r, 3)
    assert resp.status == Status.UNKNOWN_OPCODE and f"0x{op:02X}".encode() in resp.body


@pytest.mark.parametrize(
    "frame,why",
    [
        (b"\x01\x04\x01\x00", b"shorter"),
        (b"\x02\x04\x01\x00\x01\x00\x00\x00", b"version"),
        (b"\x01\x03\x01\x00\x01\x00\x00\x00", b"type"),
        (b"\x01\x04\x01\x00\x01\x05\x00\x00", b"length"),
        (b"\x01\x04\x01\x00\x01\x00\x12\x34", b"CRC"),
    ],
)
def test_malformed_frames_get_bad_frame(fw, frame, why):
    r = fw.run(PRELUDE + f"raw({frame!r})\nreq(P.OP_PING, rid=5)\nhexframes(link.take())\n")
    bad, ok = r.responses()
    assert bad.status == Status.BAD_FRAME and bad.request_id == 0xFFFF and bad.opcode == 0
    assert why in bad.body
    assert ok.request_id == 5 and ok.status == Status.OK  # and the device goes on


@pytest.mark.parametrize(
    "body,field",
    [
        (bytes((7, 0xFF, 6, 0, 0x18)), b"rate_code 7"),
        (bytes((5, 0xFF, 6, 0, 0x18)), b"(8000 Hz) above this board's 4000 Hz ceiling"),
        (bytes((3, 0x00, 6, 0, 0x18)), b"channel_mask 0"),
        (bytes((3, 0xFF, 7, 0, 0x18)), b"gain_code 7"),
        (bytes((3, 0xFF, 6, 4, 0x18)), b"mode 4"),
        (bytes((3, 0xFF, 6, 0, 0x20)), b"format 0x20"),
    ],
)
def test_configure_names_the_bad_field(fw, body, field):
    r = fw.run(PRELUDE + f"req(P.OP_CONFIGURE, {body!r}, rid=4)\nhexframes(link.take())\n")
    (resp,) = _resp(r, 4)
    assert resp.status == Status.BAD_VALUE and field in resp.body


def test_busy_states(fw):
    r = fw.run(
        PRELUDE
        + """
req(P.OP_STOP, rid=1)
req(P.OP_MARKER, bytes((1, 0)), rid=2)
req(P.OP_START, rid=3)
req(P.OP_START, rid=4)
req(P.OP_CONFIGURE, bytes((3, 0xFF, 6, 0, 0x18)), rid=5)
req(P.OP_RESEND, u32(0) + u32(0), rid=6)
req(P.OP_ENTER_REPL, rid=7)
hexframes(link.take())
"""
    )
    st = {x.request_id: (x.status, x.body) for x in r.responses()}
    assert st[1][0] == Status.BUSY and b"not streaming" in st[1][1]
    assert st[2][0] == Status.BUSY
    assert st[3][0] == Status.OK
    assert st[4][0] == Status.BUSY and b"already streaming" in st[4][1]
    assert st[5][0] == Status.BUSY and b"STOP first" in st[5][1]
    assert st[6][0] == Status.BAD_VALUE and b"count 0" in st[6][1]
    assert st[7][0] == Status.UNSUPPORTED  # not a serial link


def test_unencrypted_link_only_answers_info_and_ping(fw):
    ops = [int(o) for o in Opcode]
    r = fw.run(
        "from fwharness import *\n"
        "dev, link = make_device(ROOT, secure=False)\n"
        f"for i, op in enumerate({ops!r}):\n"
        "    link.request(op, b'\\x00' * P._BODY_LEN[op] if P._BODY_LEN[op] > 0 else (b'\\x01\\x00' if op == 7 else b''), i + 1)\n"
        "run(dev, 50_000)\n"
        "hexframes(link.take())\n"
    )
    resp = {x.opcode: x.status for x in r.responses()}
    assert len(resp) == len(ops)
    for op, status in resp.items():
        want = Status.OK if op in (Opcode.GET_INFO, Opcode.PING) else Status.NOT_PAIRED
        assert status == want, (op, status)
    assert not r.data() and not r.events()  # nothing flows to an unencrypted link


def test_random_frames_each_get_one_response(fw):
    r = fw.run(
        PRELUDE
        + """
import random
random.seed(5)
buf = bytearray(200)
sent = 0
for i in range(1500):
    n = random.randint(0, 40)
    for j in range(n):
        buf[6 + j] = random.getrandbits(8)
    op = random.getrandbits(4)
    if op == P.OP_REBOOT or op == P.OP_ENTER_REPL:
        op = 0x0D
    ln = P.write_request(buf, 0, i, op, n)
    mode = random.getrandbits(2)
    if mode == 0:
        buf[random.randint(0, ln - 1)] ^= 1 << random.getrandbits(3)  # a flipped bit
    elif mode == 1:
        ln = random.randint(1, ln)  # cut short
    dev.on_request(link, buf, 0, ln)
    sent += 1
    if link.responses.free() == 0:
        dev.tick()
    if i % 50 == 0:
        world.advance(2000)
        dev.tick()
dev.tick()
req(P.OP_GET_INFO, rid=0xBEEF)
print("sent", sent)
for kind, fr in link.take():
    if kind != 2:
        print("F", kind, fr.hex())
""",
        timeout=300,
    )
    resps = r.responses()
    assert int(r.value("sent")) + 1 == len(resps)
    assert resps[-1].request_id == 0xBEEF and resps[-1].status == Status.OK
    statuses = {x.status for x in resps}
    assert {Status.BAD_FRAME, Status.UNKNOWN_OPCODE, Status.BAD_LENGTH} <= statuses
    assert Status.INTERNAL not in statuses


def test_reboot_answers_then_resets(fw):
    with pytest.raises(MicroPythonError, match="exited 99") as ei:
        fw.run(
            PRELUDE
            + """
req(P.OP_REBOOT, rid=4)
hexframes(link.take())
run(dev, 300_000)
print("not reset")
"""
        )
    lines = str(ei.value).split("--- stdout ---")[1].splitlines()
    frames = [decode_frame(bytes.fromhex(x.split()[2])) for x in lines if x.startswith("F ")]
    assert any(getattr(f, "request_id", None) == 4 and f.status == Status.OK for f in frames)
    assert "not reset" not in str(ei.value)


def test_a_failing_main_loop_ends_run_with_its_error_and_prints_nothing(fw):
    r = fw.run(
        """
from fwharness import *
import asyncio
dev, link = make_device(ROOT)
async def forever():
    while True:
        await asyncio.sleep_ms(10)
link.run = forever
n = [0]
orig = dev.framer.tick
def bad():
    n[0] += 1
    if n[0] == 5:
        raise ValueError("boom")
    return orig()
dev.framer.tick = bad
try:
    asyncio.run(dev.run())
    print("result returned")
except ValueError as e:
    print("result raised", e)
print("finished", dev.finished)
hexframes(link.take())
"""
    )
    assert r.value("result") == "raised boom" and r.value("finished") == "True"
    assert not any("Task exception" in line or "Traceback" in line for line in r.lines)
