"""The firmware RequestParser (in MicroPython) and the host StreamDecoder (accepting REQUEST
frames) are two implementations of section 6: on the same damaged request streams they must
deliver the same frames and count the same garbage, false syncs and CRC errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

from mpy import MicroPython
from muwatch.protocol import (
    HOST_TYPES,
    SYNC,
    StreamDecoder,
    build_configure,
    build_marker,
    build_ping,
    build_resend,
    build_set_time,
)

N_STREAMS = 250


def _streams(seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for k in range(N_STREAMS):
        reqs = []
        for _ in range(rng.randint(1, 8)):
            r = rng.choice(
                [
                    build_ping(),
                    build_configure(rate_hz=rng.choice([500, 2000, 4000])),
                    build_marker(rng.getrandbits(16), "m" * rng.randint(0, 64)),
                    build_resend(rng.getrandbits(32), rng.randint(1, 9999)),
                    build_set_time(rng.getrandbits(63)),
                ]
            )
            reqs.append(SYNC + r.encode(rng.randrange(0xFFFF)))
        data = bytearray(b"".join(reqs))
        for _ in range(rng.randint(0, 6)):
            pos = rng.randrange(len(data) + 1)
            op = rng.random()
            if op < 0.3 and pos < len(data):
                data[pos] ^= 1 << rng.randrange(8)
            elif op < 0.5:
                data[pos:pos] = rng.randbytes(rng.randint(1, 30))
            elif op < 0.7:
                data[pos:pos] = SYNC + bytes([1, rng.choice([1, 2, 3, 4, 7])]) + rng.randbytes(6)
            elif op < 0.85 and pos < len(data):
                del data[pos : pos + rng.randint(1, 20)]
            else:
                data[pos:pos] = bytes(data[max(0, pos - 40) : pos])
        if k % 5 == 0:
            data = bytearray(rng.randbytes(rng.randint(0, 400)))
        # The REPL escape (03 03, 0D 03 outside a frame) is the firmware's alone: keep it out.
        for i in range(1, len(data)):
            if data[i] == 0x03 and data[i - 1] in (0x03, 0x0D):
                data[i] = 0x04
        out.append({"hex": bytes(data).hex(), "chunk": rng.choice([1, 5, 64, 1000])})
    return out


MPY_SIDE = """
import json
from muwatch_fw import protocol as P
with open(PATH) as f:
    cases = json.load(f)
res = []
for c in cases:
    data = bytes.fromhex(c["hex"])
    p = P.RequestParser()
    frames = []
    start = 0
    while start < len(data):
        chunk = data[start : start + c["chunk"]]
        i = 0
        while True:
            ev = p.feed(chunk, len(chunk), i)
            i = p.pos
            if ev == P.EV_NONE and i >= len(chunk):
                break
            if ev == P.EV_FRAME:
                f = p.frame
                frames.append(bytes(f[p.body_off - 6 : p.body_off + p.body_len + 2]).hex())
            elif ev == P.EV_REPL:
                frames.append("REPL")
        start += c["chunk"]
    res.append([frames, p.garbage_bytes, p.false_syncs, p.crc_errors, p.pending()])
print(json.dumps(res))
"""


def test_firmware_and_host_parsers_agree(micropython: MicroPython, tmp_path: Path) -> None:
    cases = _streams(2024)
    path = tmp_path / "streams.json"
    path.write_text(json.dumps(cases))
    fw = json.loads(micropython.run(f"PATH = {str(path)!r}\n" + MPY_SIDE, heapsize="8m"))
    assert len(fw) == len(cases)
    n_frames = n_crc = n_false = 0
    for c, got in zip(cases, fw, strict=True):
        data = bytes.fromhex(c["hex"])
        dec = StreamDecoder(HOST_TYPES)
        frames = []
        for i in range(0, len(data), c["chunk"]):
            frames += dec.feed(data[i : i + c["chunk"]])
        host = [
            [f.encode().hex() for f in frames],
            dec.garbage_bytes,
            dec.false_syncs,
            dec.crc_errors,
            dec.pending_bytes,
        ]
        assert got == host, c["hex"]
        n_frames += len(frames)
        n_crc += dec.crc_errors
        n_false += dec.false_syncs
    # The streams did exercise every path.
    assert n_frames > 300 and n_crc > 20 and n_false > 20
