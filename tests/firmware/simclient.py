"""A minimal host for the simulated device's serial port (tests and bench): requests by id,
every frame decoded with the host's StreamDecoder, samples checked against the source."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import serial
from muwatch.protocol import (
    DataFrame,
    EventFrame,
    Flag,
    Request,
    ResponseFrame,
    StreamDecoder,
    serial_frame,
)


class Client:
    def __init__(self, url: str, timeout: float = 0.05) -> None:
        self.ser = serial.serial_for_url(url, timeout=timeout)
        self.dec = StreamDecoder()
        self.data: list[DataFrame] = []
        self.events: list[EventFrame] = []
        self.responses: list[ResponseFrame] = []
        self.rid = 0

    def close(self) -> None:
        self.ser.close()

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            chunk = self.ser.read(65536)
            if chunk:
                for f in self.dec.feed(chunk):
                    if isinstance(f, DataFrame):
                        self.data.append(f)
                    elif isinstance(f, EventFrame):
                        self.events.append(f)
                    elif isinstance(f, ResponseFrame):
                        self.responses.append(f)
            if time.monotonic() >= end:
                return

    def send(self, req: Request) -> int:
        self.rid = (self.rid + 1) & 0x7FFF
        self.ser.write(serial_frame(req.encode(self.rid)))
        return self.rid

    def request(self, req: Request, timeout: float = 5.0) -> ResponseFrame:
        rid = self.send(req)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump(0.05)
            for r in self.responses:
                if r.request_id == rid:
                    return r
        raise TimeoutError(f"no response to request {rid} ({req}) within {timeout} s")

    def wait_for(self, pred, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump(0.05)
            if pred():
                return
        raise TimeoutError("condition not met")


@dataclass
class StreamCheck:
    received: int
    expected: int
    lost: int
    mismatched: int
    overrun_reported: int
    crc_errors: int
    garbage_bytes: int


def check_stream(client: Client, codes: np.ndarray, next_index: int) -> StreamCheck:
    """Live samples [0, next_index) against the looped source codes (n, 8)."""
    live = [d for d in client.data if not d.flags & Flag.RESENT]
    got = np.zeros(next_index, dtype=bool)
    mismatched = 0
    n = len(codes)
    for d in live:
        idx = d.first_index + np.arange(d.n_samples)
        idx = idx[idx < next_index]
        got[idx] = True
        want = codes[idx % n]
        mismatched += int(np.count_nonzero(np.any(d.samples[: len(idx)] != want, axis=1)))
    overrun = sum(e.event.count for e in client.events if e.code == 3 and e.event is not None)
    return StreamCheck(
        received=int(got.sum()),
        expected=next_index,
        lost=int(next_index - got.sum()),
        mismatched=mismatched,
        overrun_reported=overrun,
        crc_errors=client.dec.crc_errors,
        garbage_bytes=client.dec.garbage_bytes,
    )
