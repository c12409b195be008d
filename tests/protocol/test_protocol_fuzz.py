"""Fuzzing the serial StreamDecoder with random and mutated byte streams.

Properties, whatever the bytes: no exception; every byte accounted for exactly once (frame,
garbage, truncated tail); every delivered frame is valid and sits at its stated offset;
decoding does not depend on how the stream was cut; and after any damage the decoder
resynchronises: every original frame left intact is delivered (unless a frame forged by the
damage, i.e. one that passed its CRC by chance, covers it).
"""

from __future__ import annotations

import random

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from muwatch.protocol import (
    DEVICE_TYPES,
    HOST_TYPES,
    SYNC,
    LeadOff,
    Log,
    StreamDecoder,
    build_marker,
    build_ping,
    decode_frame,
    encode_data,
    encode_event,
    encode_response,
)


def _decode(stream: bytes, cuts: list[int], accept=DEVICE_TYPES):
    dec = StreamDecoder(accept)
    out = []
    pos = 0
    for c in cuts:
        out += dec.feed(stream[pos : pos + c])
        pos += c
    out += dec.feed(stream[pos:])
    out += dec.close()
    return out, dec


def _check_invariants(stream: bytes, frames, dec: StreamDecoder, accept=DEVICE_TYPES) -> None:
    st_ = dec.stats()
    assert st_.bytes_in == len(stream)
    assert st_.frame_bytes + st_.garbage_bytes + st_.truncated_bytes == len(stream)
    assert dec.pending_bytes == 0
    assert st_.frames == len(frames)
    # Frames are delivered in stream order, each valid and exactly where it says it is.
    last_end = 0
    for f in frames:
        raw = f.encode()
        assert f.offset >= last_end
        assert stream[f.offset : f.offset + 2 + len(raw)] == SYNC + raw
        assert decode_frame(raw, accept=accept).encode() == raw
        last_end = f.offset + 2 + len(raw)
    # Garbage runs and truncated tails lie between frames, sorted, never overlapping frames.
    spans = sorted(
        [(f.offset, f.offset + 2 + len(f.encode())) for f in frames]
        + [(o, o + n) for o, n in st_.garbage_runs]
        + [(o, o + n) for o, n in st_.truncated]
    )
    pos = 0
    for a, b in spans:
        assert a == pos and b > a
        pos = b
    assert pos == len(stream)


def _summary(frames, dec: StreamDecoder):
    s = dec.stats()
    return (
        [(f.offset, f.encode()) for f in frames],
        s.garbage_runs,
        s.crc_errors,
        s.false_syncs,
        s.truncated,
    )


def _device_frames(rng: random.Random, n: int) -> list[bytes]:
    out = []
    for k in range(n):
        kind = rng.random()
        if kind < 0.7:
            mask = rng.choice([0x01, 0x03, 0x0F, 0xFF, 0xA5])
            nch = bin(mask).count("1")
            ns = rng.randint(1, 12)
            fmt = rng.choice([0x18, 0x10])
            bits = 24 if fmt == 0x18 else 16
            s = np.array(
                [
                    [rng.randint(-(1 << (bits - 1)), (1 << (bits - 1)) - 1) for _ in range(nch)]
                    for _ in range(ns)
                ]
            )
            out.append(
                encode_data(
                    s,
                    channel_mask=mask,
                    first_index=rng.getrandbits(32),
                    device_time_us=rng.getrandbits(32),
                    seq=k,
                    fmt=fmt,
                )
            )
        elif kind < 0.85:
            out.append(encode_event(k, LeadOff(rng.getrandbits(32), 1, 2)))
        elif kind < 0.93:
            out.append(encode_event(k, Log(1, "x" * rng.randint(0, 150))))
        else:
            out.append(encode_response(k, 0x0A, 0, rng.randbytes(4)))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000), st.lists(st.integers(1, 200), max_size=40))
def test_random_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    frames, dec = _decode(data, cuts)
    _check_invariants(data, frames, dec)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=30),
            st.sampled_from(
                [SYNC, SYNC + b"\x01", SYNC + b"\x01\x01", SYNC + b"\x01\x02", b"\xa5"]
            ),
        ),
        max_size=60,
    ),
    st.lists(st.integers(1, 64), max_size=40),
)
def test_sync_rich_noise_never_raises(pieces: list[bytes], cuts: list[int]) -> None:
    """Noise made of sync patterns and partial headers: the worst case for the scanner."""
    data = b"".join(pieces)
    frames, dec = _decode(data, cuts)
    _check_invariants(data, frames, dec)


def _mutate(rng: random.Random, stream: bytes, n_mut: int) -> tuple[bytes, list[tuple[int, int]]]:
    """Apply mutations; return the new stream and the damaged spans (in new offsets)."""
    data = bytearray(stream)
    damaged: list[tuple[int, int]] = []

    def shift(at: int, delta: int) -> None:
        for j, (a, b) in enumerate(damaged):
            damaged[j] = (a + delta if a >= at else a, b + delta if b > at else b)

    for _ in range(n_mut):
        op = rng.choice(["flip", "insert", "delete", "dup", "sync"])
        pos = rng.randrange(len(data) + 1)
        if op == "flip" and pos < len(data):
            data[pos] ^= 1 << rng.randrange(8)
            damaged.append((pos, pos + 1))
        elif op == "insert":
            junk = rng.randbytes(rng.randint(1, 40))
            data[pos:pos] = junk
            shift(pos, len(junk))
            damaged.append((pos, pos + len(junk)))
        elif op == "delete" and pos < len(data):
            n = min(rng.randint(1, 30), len(data) - pos)
            del data[pos : pos + n]
            shift(pos + n, -n)
            damaged.append((max(pos - 1, 0), pos + 1))
        elif op == "dup":
            n = rng.randint(1, 60)
            chunk = bytes(data[pos : pos + n])
            data[pos:pos] = chunk
            shift(pos, len(chunk))
            damaged.append((pos, pos + len(chunk)))
        elif op == "sync":
            junk = SYNC + bytes([1, rng.choice([1, 2, 3, 4, 9])]) + rng.randbytes(rng.randint(0, 8))
            data[pos:pos] = junk
            shift(pos, len(junk))
            damaged.append((pos, pos + len(junk)))
    return bytes(data), damaged


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.integers(1, 12), st.lists(st.integers(1, 300), max_size=30))
def test_mutated_streams_resync(seed: int, n_mut: int, cuts: list[int]) -> None:
    rng = random.Random(seed)
    originals = _device_frames(rng, rng.randint(3, 25))
    stream = b"".join(SYNC + f for f in originals)
    mutated, damaged = _mutate(rng, stream, n_mut)
    frames, dec = _decode(mutated, cuts)
    _check_invariants(mutated, frames, dec)
    # Locate the originals that survived intact (untouched by any damaged span).
    delivered = {(f.offset, f.encode()) for f in frames}
    spans = [(f.offset, f.offset + 2 + len(f.encode())) for f in frames]
    pos = 0
    for raw in originals:
        unit = SYNC + raw
        at = mutated.find(unit, pos)
        if at < 0:
            continue
        pos = at + 1
        if any(a < at + len(unit) and at < b for a, b in damaged):
            continue
        if (at, raw) in delivered:
            continue
        # Not delivered: only acceptable if a frame forged by the damage covers it.
        assert any(a < at + len(unit) and at < b for a, b in spans), (
            f"intact frame at {at} lost after resync"
        )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.lists(st.integers(1, 97), min_size=1, max_size=50))
def test_decoding_does_not_depend_on_the_cuts(seed: int, cuts: list[int]) -> None:
    rng = random.Random(seed)
    originals = _device_frames(rng, 12)
    stream, _ = _mutate(rng, b"".join(SYNC + f for f in originals), 6)
    whole = _summary(*_decode(stream, []))
    assert _summary(*_decode(stream, cuts)) == whole
    assert _summary(*_decode(stream, [1] * len(stream))) == whole


def test_request_streams_for_a_device_side_decoder() -> None:
    """The same decoder on the device->host... host->device direction (Python simulations)."""
    reqs = [build_ping().encode(i) for i in range(5)] + [build_marker(7, "grip").encode(9)]
    stream = (
        b"\x00\x03" + b"".join(SYNC + r for r in reqs) + SYNC + encode_event(0, LeadOff(1, 1, 1))
    )
    frames, dec = _decode(stream, [3] * 40, accept=HOST_TYPES)
    _check_invariants(stream, frames, dec, accept=HOST_TYPES)
    assert [f.encode() for f in frames] == reqs
    assert dec.false_syncs == 1  # the EVENT header is not a host->device type


def test_long_mutated_streams() -> None:
    """Longer streams and heavier damage than the hypothesis cases, from fixed seeds."""
    delivered = crc = false = 0
    for seed in range(150):
        rng = random.Random(seed)
        originals = _device_frames(rng, rng.randint(50, 200))
        stream = b"".join(SYNC + f for f in originals)
        mutated, damaged = _mutate(rng, stream, rng.randint(1, 40))
        cuts = [rng.randint(1, 2000) for _ in range(rng.randint(0, 60))]
        frames, dec = _decode(mutated, cuts)
        _check_invariants(mutated, frames, dec)
        delivered += len(frames)
        crc += dec.crc_errors
        false += dec.false_syncs
        spans = [(f.offset, f.offset + 2 + len(f.encode())) for f in frames]
        got = {f.offset for f in frames}
        pos = 0
        for raw in originals:
            unit = SYNC + raw
            at = mutated.find(unit, pos)
            if at < 0:
                continue
            pos = at + 1
            if any(a < at + len(unit) and at < b for a, b in damaged) or at in got:
                continue
            assert any(a < at + len(unit) and at < b for a, b in spans), (seed, at)
    assert delivered > 10000 and crc > 200 and false > 100
