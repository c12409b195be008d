"""Benchmark of area `protocol` (make bench AREA=protocol).

- decode_realtime_x_8ch_4khz: host StreamDecoder over a serial byte stream of 8 ch x 4 kHz x
  24 bit (frames sized for the 244-byte budget, an event every second), fed in 4 KiB reads;
  signal seconds per CPU second of this process (one core). Target >= 100x real time.
- decode_realtime_x_8ch_4khz_512b_reads: the same with 512-byte reads (a busier poll loop).
- decode_speedup_vs_per_frame: the batched decoder against a plain loop that finds each
  sync and calls decode_frame per frame, same stream, same run.
- efficiency_2ch/4ch/8ch (and 1ch, 8ch_16bit): sample bytes / frame bytes of frames
  produced by the encoder at ATT MTU 247.
- fw_*: the firmware module inside the MicroPython unix port: µs per 8-channel frame (header,
  payload copy, CRC, sync), and the viper CRC against a plain-bytecode table CRC.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from figures import figure  # noqa: E402
from muwatch.protocol import (  # noqa: E402
    SYNC,
    LeadOff,
    ProtocolError,
    StreamDecoder,
    decode_frame,
    encode_data,
    encode_event,
    frame_length,
    samples_per_frame,
)

FS = 4000
N_CH = 8
SECONDS = 20


def make_stream(seconds: int = SECONDS, fs: int = FS, n_ch: int = N_CH) -> bytes:
    """A device's serial output: data frames sized for 244 bytes, one event per second."""
    rng = np.random.default_rng(1)
    n_per = samples_per_frame(244, n_ch)
    total = seconds * fs
    codes = rng.integers(-(1 << 23), 1 << 23, size=(total, n_ch), dtype=np.int64)
    parts = []
    seq = 0
    for k, start in enumerate(range(0, total, n_per)):
        block = codes[start : start + n_per]
        parts.append(
            SYNC
            + encode_data(
                block,
                channel_mask=(1 << n_ch) - 1,
                first_index=start,
                device_time_us=(start * 1_000_000 // fs) & 0xFFFFFFFF,
                seq=seq,
            )
        )
        seq = (seq + 1) & 0xFFFF
        if k % (fs // n_per) == 0:
            parts.append(SYNC + encode_event(k // (fs // n_per), LeadOff(start, 0, 0)))
    return b"".join(parts)


def decode_batched(stream: bytes, chunk: int) -> int:
    dec = StreamDecoder()
    n = 0
    for i in range(0, len(stream), chunk):
        for f in dec.feed(stream[i : i + chunk]):
            if f.type == 1:
                n += f.samples.shape[0]
    dec.close()
    return n


def decode_per_frame(stream: bytes) -> int:
    """The obvious decoder: find a sync, read the header, decode_frame, move on."""
    n = 0
    pos = 0
    mv = memoryview(stream)
    while True:
        i = stream.find(SYNC, pos)
        if i < 0 or len(stream) - i < 20:
            break
        try:
            length = frame_length(mv[i + 2 : i + 20], (1, 2, 3))
            f = decode_frame(mv[i + 2 : i + 2 + length])
        except ProtocolError:
            pos = i + 1
            continue
        if f.type == 1:
            n += f.samples.shape[0]
        pos = i + 2 + length
    return n


def cpu_seconds(fn, *args, repeat: int = 3) -> float:
    """Best CPU time (process_time: this process's cores, not the wall clock) of `repeat`."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn(*args)
        best = min(best, time.process_time() - t0)
    return best


def efficiency(n_ch: int, fmt: int = 0x18) -> float:
    n = samples_per_frame(247 - 3, n_ch, fmt)
    frame = encode_data(
        np.zeros((n, n_ch), dtype=np.int32),
        channel_mask=(1 << n_ch) - 1,
        first_index=0,
        device_time_us=0,
        fmt=fmt,
    )
    assert len(frame) <= 244
    bps = 3 if fmt == 0x18 else 2
    return n * n_ch * bps / len(frame)


FW_BENCH = r"""
import time
from muwatch_fw import protocol as P

def crc_bytecode(buf, n, table):
    crc = 0xFFFF
    for i in range(n):
        j = ((crc >> 8) ^ buf[i]) & 0xFF
        crc = ((crc << 8) & 0xFF00) ^ table[j]
    return crc

table = [0] * 256
for i in range(256):
    c = i << 8
    for _ in range(8):
        c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        c &= 0xFFFF
    table[i] = c

frame = bytearray(240)
ring = bytearray(216)
for i in range(216):
    ring[i] = (i * 13) & 0xFF
N = 2000

def frames():
    for k in range(N):
        o = P.write_sync(frame, 0)
        o = P.write_data_header(frame, o, 0, 0x18, k & 0xFFFF, 0xFF, 9, 0, k, 0, k)
        o = P.copy_bytes(frame, o, ring, 0, 216)
        P.finish_frame(frame, 2, o - 2)

def crc_v():
    for k in range(N):
        P.crc16(frame, 232)

def crc_b():
    for k in range(N // 10):
        crc_bytecode(frame, 232, table)

assert crc_bytecode(frame, 232, table) == P.crc16(frame, 232)
best = [1e9, 1e9, 1e9]
for rep in range(3):
    for j, fn in enumerate((frames, crc_v, crc_b)):
        t0 = time.ticks_us()
        fn()
        dt = time.ticks_diff(time.ticks_us(), t0)
        best[j] = min(best[j], dt)
print(best[0] / N, best[1] / N, best[2] / (N // 10))
"""


def firmware_figures() -> dict[str, dict[str, object]]:
    exe = Path(sys.executable).parent / "micropython"
    if not exe.exists():
        return {}
    env = {"MICROPYPATH": str(ROOT / "firmware"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [str(exe), "-c", FW_BENCH], capture_output=True, text=True, env=env, timeout=300
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    frame_us, crc_v_us, crc_b_us = (float(x) for x in out.stdout.split())
    return {
        "fw_frame_us_8ch_unix": figure(
            frame_us, "µs per 234-byte frame", "MicroPython unix port on this machine (not ESP32)"
        ),
        "fw_crc_viper_speedup": figure(
            crc_b_us / crc_v_us, "x", "plain-bytecode table CRC over the same 232 bytes"
        ),
    }


def run() -> dict[str, dict[str, object]]:
    stream = make_stream()
    expected = SECONDS * FS
    assert decode_batched(stream, 4096) == expected
    assert decode_per_frame(stream) == expected
    t4k = cpu_seconds(decode_batched, stream, 4096)
    t512 = cpu_seconds(decode_batched, stream, 512)
    tnaive = cpu_seconds(decode_per_frame, stream, repeat=1)
    figs = {
        "decode_realtime_x_8ch_4khz": figure(
            SECONDS / t4k, "x real time", "real time (signal seconds per CPU second, 4 KiB reads)"
        ),
        "decode_realtime_x_8ch_4khz_512b_reads": figure(
            SECONDS / t512, "x real time", "real time (512-byte reads)"
        ),
        "decode_speedup_vs_per_frame": figure(
            tnaive / t4k, "x", "sync search + decode_frame per frame, same stream"
        ),
        "decode_mb_per_s": figure(len(stream) / t4k / 1e6, "MB/s", ""),
        "efficiency_1ch": figure(efficiency(1), "fraction", "sample bytes / frame bytes, MTU 247"),
        "efficiency_2ch": figure(efficiency(2), "fraction", "sample bytes / frame bytes, MTU 247"),
        "efficiency_4ch": figure(efficiency(4), "fraction", "sample bytes / frame bytes, MTU 247"),
        "efficiency_8ch": figure(efficiency(8), "fraction", "sample bytes / frame bytes, MTU 247"),
        "efficiency_8ch_16bit": figure(
            efficiency(8, 0x10), "fraction", "sample bytes / frame bytes, MTU 247"
        ),
    }
    figs.update(firmware_figures())
    return figs


if __name__ == "__main__":
    from figures import write_area

    write_area("protocol", run())
