"""The crash-safe journal: records survive, damage is skipped and reported, storage faults are
clear errors that keep what was written."""

from __future__ import annotations

import errno
import os
import shutil
import stat

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from muwatch.errors import FileFormatError, StorageError
from muwatch.session import JournalWriter, scan_journal
from muwatch.session import journal as jr
from muwatch.session.store import JournalLock


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _codes(first: int, n: int, c: int = 3) -> np.ndarray:
    return (np.arange(first * c, (first + n) * c, dtype=np.int32) - 5000).reshape(n, c)


def test_roundtrip_every_record(tmp_path):
    path = tmp_path / "s" / "journal.mwj"
    w = JournalWriter(path)
    w.append_json(jr.META, {"hello": "world"})
    for i in range(0, 90, 9):
        w.append_data(i, 1000 + i, 5.0 + i, 0x08 if i == 18 else 0, _codes(i, 9))
    w.append_json(jr.END, {"next_index": 90})
    w.close()
    scan = scan_journal(path)
    assert scan.meta == {"hello": "world"}
    assert scan.end == {"next_index": 90}
    assert [b.first_index for b in scan.blocks] == list(range(0, 90, 9))
    assert scan.blocks[2].flags == 0x08
    assert scan.bad_bytes == 0
    got = np.concatenate([c for _, c in jr.iter_codes(scan)])
    assert np.array_equal(got, _codes(0, 90))


def test_files_and_folders_are_private(tmp_path):
    path = tmp_path / "a" / "b" / "journal.mwj"
    w = JournalWriter(path)
    w.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_flushes_when_interval_passes(tmp_path):
    clock = FakeClock()
    path = tmp_path / "journal.mwj"
    w = JournalWriter(path, flush_interval=0.25, clock=clock)
    w.append_data(0, 0, 0.0, 0, _codes(0, 9))
    assert w.pending > 0 and path.stat().st_size == len(jr.MAGIC)
    clock.t += 0.1
    w.tick()
    assert w.pending > 0, "flushed before the interval"
    clock.t += 0.2
    w.tick()
    assert w.pending == 0
    assert len(scan_journal(path).blocks) == 1
    w.close()


def test_never_overwrites_a_journal(tmp_path):
    path = tmp_path / "journal.mwj"
    JournalWriter(path).close()
    with pytest.raises(StorageError, match="never overwritten"):
        JournalWriter(path)


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_torn_tail_keeps_every_whole_record(tmp_path_factory, cut):
    path = tmp_path_factory.mktemp("torn") / "journal.mwj"
    w = JournalWriter(path)
    ends = []
    for i in range(0, 180, 9):
        w.append_data(i, i, 0.0, 0, _codes(i, 9))
        w.flush()
        ends.append(path.stat().st_size)
    w.close()
    size = path.stat().st_size
    keep = len(jr.MAGIC) + cut % (size - len(jr.MAGIC) + 1)
    os.truncate(path, keep)
    scan = scan_journal(path)
    whole = sum(1 for e in ends if e <= keep)
    assert len(scan.blocks) == whole
    last_end = max([len(jr.MAGIC)] + [e for e in ends if e <= keep])
    assert scan.bad_bytes == keep - last_end


def test_damage_in_the_middle_is_skipped_and_later_records_kept(tmp_path):
    path = tmp_path / "journal.mwj"
    w = JournalWriter(path)
    offsets = []
    for i in range(0, 90, 9):
        offsets.append(w.bytes_written + w.pending)
        w.append_data(i, i, 0.0, 0, _codes(i, 9))
    w.close()
    data = bytearray(path.read_bytes())
    data[offsets[4] + 40] ^= 0xFF  # inside block 4's payload
    path.write_bytes(bytes(data))
    scan = scan_journal(path)
    assert [b.first_index for b in scan.blocks] == [0, 9, 18, 27, 45, 54, 63, 72, 81]
    assert scan.bad_regions and scan.bad_regions[0][0] == offsets[4]
    assert scan.bad_bytes == offsets[5] - offsets[4]


def test_not_a_journal(tmp_path):
    bogus = tmp_path / "x.mwj"
    bogus.write_bytes(b"0,1,2,3\n4,5,6,7\n")
    with pytest.raises(FileFormatError, match="not a muwatch journal"):
        scan_journal(bogus)
    with pytest.raises(FileFormatError, match="no such journal"):
        scan_journal(tmp_path / "missing.mwj")


def test_disk_full_is_a_clear_error_and_keeps_what_was_written(tmp_path, monkeypatch):
    path = tmp_path / "sess" / "journal.mwj"
    w = JournalWriter(path)
    for i in range(0, 45, 9):
        w.append_data(i, i, 0.0, 0, _codes(i, 9))
    w.flush()
    real_write = os.write
    budget = [100]  # the next record only half fits

    def full_disk(fd, data):
        if fd != w._fd:
            return real_write(fd, data)
        if budget[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real_write(fd, bytes(data[: budget[0]]))
        budget[0] -= n
        return n

    monkeypatch.setattr(jr.os, "write", full_disk)
    w.append_data(45, 45, 0.0, 0, _codes(45, 9))
    with pytest.raises(StorageError, match="disk full.*muwatch recover sess"):
        w.flush()
    w.abandon()
    monkeypatch.setattr(jr.os, "write", real_write)
    scan = scan_journal(path)
    assert [b.first_index for b in scan.blocks] == [0, 9, 18, 27, 36]
    assert scan.bad_bytes == 0, "the half-written record was cut back"


def test_deleted_folder_is_recreated_with_everything_written(tmp_path):
    warnings = []
    path = tmp_path / "data" / "sessions" / "s1" / "journal.mwj"
    w = JournalWriter(path, on_warning=warnings.append)
    for i in range(0, 45, 9):
        w.append_data(i, i, 0.0, 0, _codes(i, 9))
    w.flush()
    shutil.rmtree(tmp_path / "data")
    for i in range(45, 90, 9):
        w.append_data(i, i, 0.0, 0, _codes(i, 9))
    w.close()
    assert warnings and "deleted" in warnings[0]
    scan = scan_journal(path)
    assert [b.first_index for b in scan.blocks] == list(range(0, 90, 9))
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_lock_tells_a_live_recording(tmp_path):
    path = tmp_path / "journal.mwj"
    w = JournalWriter(path)
    lock = JournalLock(path)
    assert not lock.acquire()
    w.close()
    assert lock.acquire()
    lock.release()
