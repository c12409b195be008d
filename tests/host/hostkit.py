"""Helpers for the host-bridge tests: build sessions without a device."""

from __future__ import annotations

import time

import numpy as np
from muwatch.session import JournalWriter, SessionMeta, SessionStore
from muwatch.session import journal as jr
from muwatch.session.meta import iso, utc_now


def make_meta(sid: str, *, fs: float = 2000.0, n_ch: int = 2, **kw) -> SessionMeta:
    nums = list(range(1, n_ch + 1))
    fields = dict(
        session_id=sid,
        subject="p01",
        muscle="first dorsal interosseous",
        task="grip",
        sample_rate=fs,
        channel_labels=[f"EMG{n}" for n in nums],
        channel_numbers=nums,
        gain=24,
        vref=4.5,
        created_utc=iso(utc_now()),
        host_mono_ref=time.monotonic(),
        session_label="20250102T030405",
        device={"serial": "SN0042", "firmware": "0.1.0", "board": "xiao-esp32s3-ads1299"},
    )
    fields.update(kw)
    return SessionMeta(**fields)


class FakeSession:
    """A journal written block by block from known source codes."""

    def __init__(self, store: SessionStore, *, fs=2000.0, n_ch=2, n=20000, seed=0, **kw):
        self.sid, self.folder = store.new_session_dir("p01", utc_now())
        self.meta = make_meta(self.sid, fs=fs, n_ch=n_ch, **kw)
        rng = np.random.default_rng(seed)
        self.source = rng.integers(-(1 << 23), 1 << 23, size=(n, n_ch), dtype=np.int32)
        self.writer = JournalWriter(self.folder / "journal.mwj")
        self.writer.append_json(jr.META, self.meta.to_dict())
        self.fs = fs
        self.t0 = time.monotonic()

    def block(self, first: int, n: int, flags: int = 0, codes=None) -> None:
        codes = self.source[first : first + n] if codes is None else codes
        dev_us = 10_000 + int(first * 1e6 / self.fs)
        self.writer.append_data(
            first, dev_us, self.t0 + (first + n) / self.fs + 0.004, flags, codes
        )

    def blocks(self, start: int, stop: int, size: int = 9, skip=()) -> None:
        for i in range(start, stop, size):
            n = min(size, stop - i)
            if any(a <= i < b for a, b in skip):
                continue
            self.block(i, n)
