"""StreamDecoder: frames out of a serial byte stream (docs/protocol.md section 6).

Never raises on stream content. Every byte ends up in exactly one place: a delivered frame
(with its two sync bytes), a garbage run (counted and located by stream offset), or, at
close(), a truncated tail. Runs of back-to-back data frames of one shape are checked and
converted with numpy in one go, so the per-frame Python work is a CRC call and a constructor.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .constants import MAX_BODY, SYNC, Format, FrameType
from .frames import DEVICE_TYPES, POPCOUNT, DataFrame, Frame, _build, unpack_samples

_A5 = 0xA5
_crc = binascii.crc_hqx


@dataclass
class StreamStats:
    """Counters of a StreamDecoder (a snapshot from `StreamDecoder.stats()`).

    frame_bytes counts delivered frames with their sync bytes, so frame_bytes +
    garbage_bytes + truncated_bytes + pending bytes == bytes_in.
    """

    bytes_in: int = 0
    frames: int = 0
    data_frames: int = 0
    frame_bytes: int = 0
    garbage_bytes: int = 0
    crc_errors: int = 0
    false_syncs: int = 0
    bad_event_bodies: int = 0
    garbage_runs: list[tuple[int, int]] = field(default_factory=list)
    truncated: list[tuple[int, int]] = field(default_factory=list)

    @property
    def truncated_bytes(self) -> int:
        return sum(n for _, n in self.truncated)


class StreamDecoder:
    """Decode a serial byte stream into frames; `feed(data) -> list[Frame]`.

    `accept` is the set of frame types this side receives (default: what a host receives);
    a header of another type is a false sync. Frames are returned in stream order, each with
    `offset` = the stream offset of its sync bytes. A frame torn by the end of the data
    stays pending until more bytes come; `close()` settles it.
    """

    def __init__(self, accept: Iterable[int] = DEVICE_TYPES) -> None:
        self._accept = frozenset(int(t) for t in accept)
        self._accept_table = bytes(1 if t in self._accept else 0 for t in range(256))
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._closed = False
        self.bytes_in = 0
        self.frames = 0
        self.data_frames = 0
        self.frame_bytes = 0
        self.garbage_bytes = 0
        self.crc_errors = 0
        self.false_syncs = 0
        self.bad_event_bodies = 0
        self.garbage_runs: list[list[int]] = []
        self.truncated: list[tuple[int, int]] = []
        self.bad_events: list[tuple[int, str]] = []

    # -- public ----------------------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Take more bytes; return the frames they complete, in stream order."""
        if self._closed:
            raise RuntimeError("StreamDecoder.feed after close(); make a new decoder")
        self.bytes_in += len(data)
        self._buf += data
        out: list[Frame] = []
        pos = self._scan(0, out)
        self._consume(pos)
        return out

    def close(self) -> list[Frame]:
        """End of stream: settle what is pending and return any last frames.

        A pending candidate that cannot complete is reported in `truncated` (offset, length),
        unless a whole valid frame starts after its first byte: then it was a false sync and
        decoding resumes there. A final lone 0xA5 is garbage.
        """
        if self._closed:
            return []
        self._closed = True
        out: list[Frame] = []
        buf = self._buf
        pos = 0
        while pos < len(buf):
            if len(buf) - pos == 1 or buf[pos + 1] != SYNC[1]:
                self._garbage(pos, len(buf) - pos)
                pos = len(buf)
                break
            if self._valid_frame_after(pos + 1):
                self.false_syncs += 1
                self._garbage(pos, 1)
                pos = self._scan(pos + 1, out)
                continue
            self.truncated.append((self._base + pos, len(buf) - pos))
            pos = len(buf)
        self._consume(pos)
        return out

    def stats(self) -> StreamStats:
        return StreamStats(
            bytes_in=self.bytes_in,
            frames=self.frames,
            data_frames=self.data_frames,
            frame_bytes=self.frame_bytes,
            garbage_bytes=self.garbage_bytes,
            crc_errors=self.crc_errors,
            false_syncs=self.false_syncs,
            bad_event_bodies=self.bad_event_bodies,
            garbage_runs=[(o, n) for o, n in self.garbage_runs],
            truncated=list(self.truncated),
        )

    @property
    def pending_bytes(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    # -- internals --------------------------------------------------------------------
    def _consume(self, pos: int) -> None:
        if pos:
            del self._buf[:pos]
            self._base += pos

    def _garbage(self, pos: int, n: int) -> None:
        off = self._base + pos
        self.garbage_bytes += n
        runs = self.garbage_runs
        if runs and runs[-1][0] + runs[-1][1] == off:
            runs[-1][1] += n
        else:
            runs.append([off, n])

    def _length(self, buf: bytearray, i: int, avail: int) -> int:
        """Frame length (CRC included, sync excluded) announced at buf[i] (the sync);
        0 if more bytes are needed to tell, -1 for a false sync."""
        if avail < 4:
            return 0
        if buf[i + 2] != 1 or not self._accept_table[buf[i + 3]]:
            return -1
        t = buf[i + 3]
        if t == FrameType.DATA:
            if avail < 10:
                return 0
            fmt = buf[i + 5]
            nch = POPCOUNT[buf[i + 8]]
            ns = buf[i + 9]
            if nch == 0 or ns == 0:
                return -1
            if fmt == Format.S24:
                return 18 + ns * nch * 3
            if fmt == Format.S16:
                return 18 + ns * nch * 2
            return -1
        head = 7 if t == FrameType.RESPONSE else 6
        if avail < head + 2:
            return 0
        blen = buf[i + 1 + head]
        if blen > MAX_BODY:
            return -1
        return head + blen + 2

    def _valid_frame_after(self, start: int) -> bool:
        """Is there a whole valid frame starting anywhere in _buf[start:]?"""
        buf = self._buf
        mv = memoryview(buf)
        n = len(buf)
        i = buf.find(SYNC, start)
        while i >= 0:
            length = self._length(buf, i, n - i)
            if length > 0 and n - i >= length + 2:
                end = i + length
                if _crc(mv[i + 2 : end], 0xFFFF) == buf[end] | buf[end + 1] << 8:
                    return True
            i = buf.find(SYNC, i + 1)
        return False

    def _scan(self, pos: int, out: list[Frame]) -> int:
        """Decode from _buf[pos:]; return where undecided bytes start."""
        buf = self._buf
        n = len(buf)
        mv = memoryview(buf)
        while pos < n:
            i = buf.find(SYNC, pos)
            if i < 0:
                end = n - 1 if buf[n - 1] == _A5 else n
                if end > pos:
                    self._garbage(pos, end - pos)
                return end
            if i > pos:
                self._garbage(pos, i - pos)
            length = self._length(buf, i, n - i)
            if length == 0:
                return i
            if length < 0:
                self.false_syncs += 1
                self._garbage(i, 1)
                pos = i + 1
                continue
            total = length + 2
            if n - i < total:
                return i
            end = i + length
            if _crc(mv[i + 2 : end], 0xFFFF) != buf[end] | buf[end + 1] << 8:
                self.crc_errors += 1
                self._garbage(i, 1)
                pos = i + 1
                continue
            if buf[i + 3] == FrameType.DATA:
                pos = self._data_run(i, total, out)
                continue
            frame = _build(bytes(mv[i : i + total]), 2, length, self._base + i, strict=False)
            if frame.type == FrameType.EVENT and frame.error is not None:  # type: ignore[union-attr]
                self.bad_event_bodies += 1
                self.bad_events.append((self._base + i, frame.error))  # type: ignore[union-attr]
            self.frames += 1
            self.frame_bytes += total
            out.append(frame)
            pos = i + total
        return pos

    def _data_run(self, i: int, total: int, out: list[Frame]) -> int:
        """Decode the valid data frame at i and every back-to-back valid frame of the same
        shape after it, with one numpy pass; return the position after the run."""
        buf = self._buf
        n = len(buf)
        k_max = (n - i) // total
        rows = np.frombuffer(buf, np.uint8, k_max * total, i).reshape(k_max, total)
        if k_max > 1:
            # Same sync, version, type, format, channel mask and sample count as the first.
            key = rows[:, _SHAPE_COLS]
            same = (key == key[0]).all(axis=1)
            k = int(k_max if same.all() else same.argmin())
        else:
            k = 1
        if k > 1:
            length = total - 2
            mv = memoryview(buf)
            stored = (
                rows[:k, length].astype(np.uint32) | rows[:k, length + 1].astype(np.uint32) << 8
            ).tolist()
            good = 1
            for j in range(1, k):
                s = i + j * total
                if _crc(mv[s + 2 : s + length], 0xFFFF) != stored[j]:
                    break
                good += 1
            k = good
            del mv
        rows = rows[:k]
        fmt = int(rows[0, 5])
        mask = int(rows[0, 8])
        ns = int(rows[0, 9])
        nch = POPCOUNT[mask]
        samples = unpack_samples(rows[:, 18 : total - 2], fmt, nch).reshape(k, ns, nch)
        hdr = np.ascontiguousarray(rows[:, 2:18])
        flags = hdr[:, 2].tolist()
        seqs = hdr[:, 4:6].copy().view("<u2").ravel().tolist()
        firsts = hdr[:, 8:12].copy().view("<u4").ravel().tolist()
        times = hdr[:, 12:16].copy().view("<u4").ravel().tolist()
        base = self._base + i
        out.extend(
            [
                DataFrame(
                    flags[j], fmt, seqs[j], mask, firsts[j], times[j], samples[j], base + j * total
                )
                for j in range(k)
            ]
        )
        self.frames += k
        self.data_frames += k
        self.frame_bytes += k * total
        return i + k * total


_SHAPE_COLS = np.array([0, 1, 2, 3, 5, 8, 9])
