"""The crash-safe recording journal: an append-only file of CRC-checked records.

While a session records, everything the host learns goes into one file, `journal.mwj`, in
arrival order: a META record first (all metadata needed to finalise), then DATA records (one per
data frame, placed by sample index) and small JSON records (annotations, gaps, clock fits, link
state, statistics, and END at a clean stop). The writer hands bytes to the kernel with `os.write`
at least every `flush_interval` seconds and fsyncs at least every `fsync_interval`, so a killed
recorder loses at most the last flush interval. A torn or damaged record is skipped on reading
(the reader resynchronises on the next valid record) and reported, never fatal.

Layout (all little-endian; docs/recording.md has the table):

    file   = MAGIC (8 bytes) record*
    record = u16 marker 0x574A, u8 kind, u8 zero, u32 payload_len, u32 crc32(kind byte + payload),
             payload
    DATA payload = i64 first_index, i64 device_time_us, f64 host_time (monotonic s),
                   u16 n_samples, u8 n_channels, u8 flags, int32 codes[n_samples * n_channels]
    other payloads = UTF-8 JSON objects
"""

from __future__ import annotations

import errno
import fcntl
import json
import mmap
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from muwatch.errors import FileFormatError, StorageError

MAGIC = b"MUWJRNL1"
MARKER = 0x574A
_REC = struct.Struct("<HBxII")
_DATA = struct.Struct("<qqdHBB")
MAX_PAYLOAD = 1 << 24

# Record kinds.
META = 1
DATA = 2
ANNOT = 3
GAP = 4
CLOCK = 5
STATS = 6
END = 7
LINK = 8
KIND_NAMES = {
    META: "meta",
    DATA: "data",
    ANNOT: "annotation",
    GAP: "gap",
    CLOCK: "clock",
    STATS: "stats",
    END: "end",
    LINK: "link",
}

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _crc(kind: int, payload: bytes | bytearray | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(bytes((kind,)))) & 0xFFFFFFFF


def encode_record(kind: int, payload: bytes | bytearray) -> bytes:
    """One record as bytes (header + payload)."""
    return _REC.pack(MARKER, kind, len(payload), _crc(kind, payload)) + bytes(payload)


def encode_data(
    first_index: int, device_time_us: int, host_time: float, flags: int, codes: np.ndarray
) -> bytes:
    """A DATA record for one block of codes shaped (n_samples, n_channels)."""
    n, c = codes.shape
    body = _DATA.pack(first_index, device_time_us, host_time, n, c, flags & 0xFF)
    payload = body + np.ascontiguousarray(codes, dtype="<i4").tobytes()
    return encode_record(DATA, payload)


def make_private_dir(path: Path) -> None:
    """Create a folder and any missing parents, each readable by the owner only (0700).

    Folders that already exist are left as they are (a user's own folder keeps its mode)."""
    path = Path(path)
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask


class JournalWriter:
    """Appends records to a journal; survives `kill -9` up to the last flush (≤ flush_interval).

    The buffer is written with `os.write` when it is older than `flush_interval` or larger than
    `max_buffer`; fsync runs at most every `fsync_interval`. If the journal's folder is deleted
    while recording (the open file then has no name), the writer recreates the folder, copies
    everything already written into a new file and carries on, reporting through `on_warning`.
    Write failures raise StorageError saying where the safe data is; the file is cut back to the
    last whole record so that nothing already written is damaged.
    """

    def __init__(
        self,
        path: Path,
        *,
        flush_interval: float = 0.25,
        fsync_interval: float = 1.0,
        max_buffer: int = 256 * 1024,
        on_warning: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.fsync_interval = fsync_interval
        self.max_buffer = max_buffer
        self.on_warning = on_warning
        self._clock = clock
        self._buf = bytearray()
        self._fd = -1
        self._committed = 0
        self._last_flush = clock()
        self._last_fsync = clock()
        self.records = 0
        self.closed = False
        self._open_new()

    # -- lifecycle --------------------------------------------------------------------------
    def _open_new(self) -> None:
        make_private_dir(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError:
            raise StorageError(
                f"{self.path} already exists; a journal is never overwritten "
                "(pick a new session or run `muwatch recover` on the old one)"
            ) from None
        except OSError as exc:
            raise StorageError(f"cannot create the journal {self.path}: {exc.strerror}") from exc
        os.fchmod(fd, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # tells `recover` we are alive
        self._fd = fd
        self._write_all(MAGIC)
        self._committed = len(MAGIC)

    @property
    def bytes_written(self) -> int:
        """Bytes handed to the kernel so far (the part that survives a crash of this process)."""
        return self._committed

    @property
    def pending(self) -> int:
        """Bytes buffered in memory, not yet written."""
        return len(self._buf)

    def append(self, record: bytes) -> None:
        """Queue one encoded record; flushes when the buffer is old or large enough."""
        if self.closed:
            raise StorageError(f"journal {self.path} is closed")
        self._buf += record
        self.records += 1
        if len(self._buf) >= self.max_buffer or (
            self._clock() - self._last_flush >= self.flush_interval
        ):
            self.flush()

    def append_json(self, kind: int, obj: dict[str, Any]) -> None:
        """Queue a JSON record of the given kind."""
        self.append(encode_record(kind, json.dumps(obj, separators=(",", ":")).encode()))

    def append_data(
        self,
        first_index: int,
        device_time_us: int,
        host_time: float,
        flags: int,
        codes: np.ndarray,
    ) -> None:
        """Queue a DATA record."""
        self.append(encode_data(first_index, device_time_us, host_time, flags, codes))

    def flush(self, *, sync: bool = False) -> None:
        """Write the buffer to the file now (and fsync when due or asked)."""
        if self._fd < 0:
            return
        self._check_linked()
        now = self._clock()
        if self._buf:
            data = bytes(self._buf)
            self._write_all(data)
            self._committed += len(data)
            self._buf.clear()
        self._last_flush = now
        if sync or now - self._last_fsync >= self.fsync_interval:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise self._storage_error(exc) from exc
            self._last_fsync = now

    def tick(self) -> None:
        """Flush if the buffer is older than the flush interval (call from a periodic timer)."""
        if self._fd >= 0 and (self._buf or self._clock() - self._last_fsync >= self.fsync_interval):
            if self._clock() - self._last_flush >= self.flush_interval:
                self.flush()

    def close(self) -> None:
        """Flush, fsync and close; safe to call twice."""
        if self.closed:
            return
        try:
            self.flush(sync=True)
        finally:
            self.closed = True
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def abandon(self) -> None:
        """Close without flushing (after a StorageError); what was written stays valid."""
        self.closed = True
        if self._fd >= 0:
            try:
                os.close(self._fd)
            finally:
                self._fd = -1

    # -- internals --------------------------------------------------------------------------
    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        start = self._committed
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as exc:
            # Cut back to the last whole record so the file stays readable, then report.
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                pass
            raise self._storage_error(exc) from exc

    def _storage_error(self, exc: OSError) -> StorageError:
        safe = f"everything before this moment is safe in {self.path}"
        if exc.errno in _DISK_FULL:
            return StorageError(
                f"disk full while writing the journal ({exc.strerror}); {safe}. Free some space, "
                f"then run `muwatch recover {self.path.parent.name}` to finish the session"
            )
        return StorageError(
            f"writing the journal failed ({exc.strerror or exc}); {safe}. "
            f"Run `muwatch recover {self.path.parent.name}` once the problem is fixed"
        )

    def _check_linked(self) -> None:
        try:
            linked = os.fstat(self._fd).st_nlink > 0 and self.path.exists()
        except OSError:
            linked = False
        if linked:
            return
        self._relink()

    def _relink(self) -> None:
        """The file lost its name (folder deleted): rebuild it from the open descriptor."""
        old = self._fd
        try:
            make_private_dir(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        except OSError as exc:
            raise StorageError(
                f"the data folder {self.path.parent} was deleted while recording and cannot be "
                f"recreated ({exc.strerror}); the recording stopped"
            ) from exc
        try:
            offset = 0
            while offset < self._committed:
                chunk = os.pread(old, min(1 << 20, self._committed - offset), offset)
                if not chunk:
                    break
                view = memoryview(chunk)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                offset += len(chunk)
            os.fsync(fd)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise StorageError(
                f"the data folder {self.path.parent} was deleted while recording; restoring "
                f"the journal failed ({exc.strerror})"
            ) from exc
        os.close(old)
        self._fd = fd
        if self.on_warning is not None:
            self.on_warning(
                f"the session folder {self.path.parent} was deleted while recording; it was "
                f"recreated and the {self._committed} bytes already recorded were restored"
            )


# -- reading ------------------------------------------------------------------------------------


@dataclass
class DataBlock:
    """Where one DATA record's codes sit in the journal file."""

    first_index: int
    device_time_us: int
    host_time: float
    n_samples: int
    n_channels: int
    flags: int
    offset: int  # byte offset of the int32 codes in the file


@dataclass
class JournalScan:
    """Everything a journal holds, with the codes left in the file (see `codes_of`)."""

    path: Path
    meta: dict[str, Any] | None = None
    blocks: list[DataBlock] = field(default_factory=list)
    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (kind, obj)
    end: dict[str, Any] | None = None
    bad_bytes: int = 0  # bytes skipped as damaged or torn
    bad_regions: list[tuple[int, int]] = field(default_factory=list)  # (offset, length)
    size: int = 0

    def of_kind(self, kind: int) -> list[dict[str, Any]]:
        return [obj for k, obj in self.records if k == kind]


_MARKER_BYTES = struct.pack("<H", MARKER)


def _find_next(mm: mmap.mmap, start: int, size: int) -> int:
    pos = mm.find(_MARKER_BYTES, start)
    return size if pos < 0 else pos


def scan_journal(path: Path) -> JournalScan:
    """Read a journal's records; damaged stretches are skipped and reported, never fatal."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such journal") from None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read ({exc.strerror})") from exc
    if head != MAGIC:
        raise FileFormatError(
            f"{path} is not a muwatch journal (starts with {head[:8]!r}, expected {MAGIC!r})"
        )
    scan = JournalScan(path=path, size=size)
    if size == len(MAGIC):
        return scan
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos = len(MAGIC)
        bad_start = -1
        while pos < size:
            ok = False
            if pos + _REC.size <= size:
                marker, kind, length, crc = _REC.unpack_from(mm, pos)
                end = pos + _REC.size + length
                if (
                    marker == MARKER
                    and kind in KIND_NAMES
                    and length <= MAX_PAYLOAD
                    and end <= size
                ):
                    payload = memoryview(mm)[pos + _REC.size : end]
                    try:
                        if _crc(kind, payload) == crc:
                            ok = _accept(scan, kind, payload, pos + _REC.size)
                    finally:
                        payload.release()
            if ok:
                if bad_start >= 0:
                    scan.bad_regions.append((bad_start, pos - bad_start))
                    scan.bad_bytes += pos - bad_start
                    bad_start = -1
                pos = end
            else:
                if bad_start < 0:
                    bad_start = pos
                pos = _find_next(mm, pos + 1, size)
        if bad_start >= 0:
            scan.bad_regions.append((bad_start, size - bad_start))
            scan.bad_bytes += size - bad_start
    return scan


def _accept(scan: JournalScan, kind: int, payload: memoryview, offset: int) -> bool:
    if kind == DATA:
        if len(payload) < _DATA.size:
            return False
        first, dev_t, host_t, n, c, flags = _DATA.unpack_from(payload, 0)
        if len(payload) != _DATA.size + 4 * n * c or c == 0:
            return False
        scan.blocks.append(DataBlock(first, dev_t, host_t, n, c, flags, offset + _DATA.size))
        return True
    try:
        obj = json.loads(bytes(payload))
    except ValueError:
        return False
    if not isinstance(obj, dict):
        return False
    if kind == META:
        if scan.meta is None:
            scan.meta = obj
    elif kind == END:
        scan.end = obj
    scan.records.append((kind, obj))
    return True


def iter_codes(scan: JournalScan) -> Iterator[tuple[DataBlock, np.ndarray]]:
    """Yield each DATA block with its codes (int32, shape (n_samples, n_channels))."""
    if not scan.blocks:
        return
    fd = os.open(scan.path, os.O_RDONLY)
    try:
        for b in scan.blocks:
            raw = os.pread(fd, 4 * b.n_samples * b.n_channels, b.offset)
            codes = np.frombuffer(raw, dtype="<i4").astype(np.int32)
            yield b, codes.reshape(b.n_samples, b.n_channels)
    finally:
        os.close(fd)
