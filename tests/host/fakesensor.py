"""An in-process stand-in for the sensor at the protocol level, for fast Device tests.

It speaks real protocol bytes (muwatch.protocol encoders/decoders) through a Transport
subclass, keeps a ring buffer, answers every request (RESEND from the ring, errors for bad
states), and can be taken out of range, rebooted or told to stay silent. Sampling is driven by
the test (`produce(n)`), so the tests are exact and fast; the real firmware is exercised by the
end-to-end tests through `muwatch sim-device`.
"""

from __future__ import annotations

import asyncio

import numpy as np
from muwatch.protocol import constants as pc
from muwatch.protocol.bodies import (
    Config,
    DeviceInfo,
    DeviceStatus,
    DeviceTime,
    Empty,
    MarkerResult,
    Overrun,
    ResendResult,
    State,
    StopResult,
)
from muwatch.protocol.frames import (
    HOST_TYPES,
    decode_frame,
    encode_data,
    encode_event,
    encode_response,
)
from muwatch.transports.base import Transport, TransportClosed, TransportError


class FakeSensor:
    def __init__(
        self,
        *,
        n_channels: int = 2,
        rate_hz: int = 1000,
        ring_samples: int = 2000,
        samples_per_frame: int = 9,
        seconds: float = 120.0,
        seed: int = 0,
        drift_ppm: float = 0.0,
        fmt: int = 24,
        t0_us: int = 4_000_000_000,
    ) -> None:
        rng = np.random.default_rng(seed)
        n = int(seconds * rate_hz)
        self.source = rng.integers(-(1 << 23), 1 << 23, size=(n, 8), dtype=np.int32)
        mask = (1 << n_channels) - 1
        self.config = Config(
            pc.RATES_HZ.index(rate_hz),
            mask,
            6,
            0,
            pc.Format.S24 if fmt == 24 else pc.Format.S16,
        )
        self.ring_samples = ring_samples
        self.spf = samples_per_frame
        self.drift = drift_ppm * 1e-6
        self.streaming = False
        self.next_index = 0
        self.sent_upto = 0
        self.t0_us = t0_us  # near the u32 wrap: unwrapping is exercised
        self.reachable = True
        self.silent: set[int] = set()  # opcodes not answered
        self.transport: FakeTransport | None = None
        self.seq = 0
        self.event_seq = 0
        self.requests: list[tuple[int, bytes]] = []
        self.duplicate_every = 0  # send every k-th live frame twice
        self.usb_power = False  # GET_STATUS link_flags bit 3 (CHARGE_STAT low on the board)
        self._frames_sent = 0

    # -- device model -------------------------------------------------------------------
    @property
    def channels(self) -> tuple[int, ...]:
        return self.config.channels

    @property
    def rate_hz(self) -> int:
        return self.config.rate_hz

    def codes(self, first: int, stop: int) -> np.ndarray:
        cols = [c - 1 for c in self.channels]
        block = np.ascontiguousarray(self.source[first:stop][:, cols])
        if self.config.fmt == pc.Format.S16:
            return block >> 8
        return block

    def time_us(self, index: int) -> int:
        return (self.t0_us + int(index * 1e6 / self.rate_hz * (1 - self.drift))) & 0xFFFFFFFF

    @property
    def oldest_index(self) -> int:
        return max(0, self.next_index - self.ring_samples)

    def produce(self, n: int) -> None:
        """n conversions happen; live frames go out if a host is connected."""
        if not self.streaming:
            return
        self.next_index += n
        if self.link_up:
            self._send_range(self.sent_upto, self.next_index, resent=False)
            self.sent_upto = self.next_index

    @property
    def link_up(self) -> bool:
        return self.transport is not None and self.transport.is_open

    def _send_range(self, first: int, stop: int, resent: bool) -> None:
        i = first
        while i < stop:
            j = min(stop, i + self.spf)
            frame = encode_data(
                self.codes(i, j),
                channel_mask=self.config.channel_mask,
                first_index=i,
                device_time_us=self.time_us(i),
                seq=self.seq,
                flags=pc.Flag.RESENT if resent else 0,
                fmt=self.config.fmt,
            )
            self.seq = (self.seq + 1) & 0xFFFF
            self._emit(frame)
            self._frames_sent += 1
            if (
                not resent
                and self.duplicate_every
                and self._frames_sent % self.duplicate_every == 0
            ):
                self._emit(frame)
            i = j

    def event(self, ev: object) -> None:
        self._emit(encode_event(self.event_seq, ev))
        self.event_seq = (self.event_seq + 1) & 0xFFFF

    def overrun(self, first: int, count: int, cause: int = 1) -> None:
        """Conversions the sampler missed: indices consumed without data."""
        self.next_index = max(self.next_index, first + count)
        if self.sent_upto < first:
            self._send_range(self.sent_upto, first, resent=False)
        self.sent_upto = max(self.sent_upto, first + count)
        self.event(Overrun(first, count, cause))

    def _emit(self, frame: bytes) -> None:
        if self.transport is not None:
            self.transport.push(frame)

    def go_away(self, why: str = "out of range") -> None:
        self.reachable = False
        if self.transport is not None:
            self.transport.drop(why)

    def come_back(self) -> None:
        self.reachable = True

    def reboot(self) -> None:
        """Lose the stream: index and clock restart, not streaming."""
        self.streaming = False
        self.next_index = self.sent_upto = 0
        self.t0_us = 123

    def on_connect(self) -> None:
        self.seq = 0
        self.event_seq = 0
        self.sent_upto = self.next_index  # live resumes at the newest samples

    def handle(self, raw: bytes) -> None:
        req = decode_frame(raw, accept=HOST_TYPES)
        self.requests.append((req.opcode, req.body))
        if req.opcode in self.silent:
            return
        op = pc.Opcode(req.opcode)
        ok = pc.Status.OK

        def answer(status: int, body: object = b"") -> None:
            self._emit(encode_response(req.request_id, req.opcode, status, body))

        if op == pc.Opcode.GET_INFO:
            answer(
                ok,
                DeviceInfo(
                    1,
                    8,
                    0x7F,
                    45,
                    self.ring_samples,
                    self.spf,
                    "0.1.0",
                    "fake",
                    "FAKE01",
                    "muw-FAKE",
                ),
            )
        elif op == pc.Opcode.GET_STATUS:
            answer(
                ok,
                DeviceStatus(
                    int(self.streaming),
                    80,
                    3900,
                    0,
                    0,
                    self.next_index & 0xFFFFFFFF,
                    self.oldest_index & 0xFFFFFFFF,
                    0,
                    self.time_us(self.next_index),
                    0,
                    1 | (8 if self.usb_power else 0),
                    self.config,
                ),
            )
        elif op == pc.Opcode.CONFIGURE:
            if self.streaming:
                answer(pc.Status.BUSY, "CONFIGURE while streaming")
                return
            self.config = Config.decode(req.body)
            answer(ok, self.config)
        elif op == pc.Opcode.START:
            if self.streaming:
                answer(pc.Status.BUSY, "already streaming")
                return
            self.streaming = True
            self.next_index = self.sent_upto = 0
            answer(ok, DeviceTime(self.time_us(0)))
        elif op == pc.Opcode.STOP:
            if not self.streaming:
                answer(pc.Status.BUSY, "not streaming")
                return
            self.streaming = False
            answer(ok, StopResult(self.next_index & 0xFFFFFFFF))
            self.event(State(0, self.next_index & 0xFFFFFFFF, 0))
        elif op == pc.Opcode.MARKER:
            answer(ok, MarkerResult(self.next_index & 0xFFFFFFFF))
        elif op == pc.Opcode.PING:
            answer(ok, DeviceTime(self.time_us(self.next_index)))
        elif op == pc.Opcode.RESEND:
            first, count = (
                int.from_bytes(req.body[:4], "little"),
                int.from_bytes(req.body[4:], "little"),
            )
            q_first = max(first, self.oldest_index)
            q_stop = min(first + count, self.next_index)
            n = max(0, q_stop - q_first)
            answer(
                ok,
                ResendResult(q_first, n, self.oldest_index, self.next_index & 0xFFFFFFFF),
            )
            if n:
                self._send_range(q_first, q_stop, resent=True)
        elif op == pc.Opcode.REBOOT:
            answer(ok, Empty())
        else:
            answer(pc.Status.UNSUPPORTED, f"{op.name} not in the fake")


class FakeTransport(Transport):
    """Delivers the fake sensor's frames through the real decoder, one event-loop turn later."""

    def __init__(self, sensor: FakeSensor) -> None:
        super().__init__()
        self.sensor = sensor
        sensor.transport = self
        self._open = False
        self.description = "fake"
        self.opens = 0
        self.open_attempts = 0

    @property
    def is_open(self) -> bool:
        return self._open

    async def open(self, timeout: float = 10.0) -> None:
        self.open_attempts += 1
        await asyncio.sleep(0)
        if not self.sensor.reachable:
            raise TransportError("fake sensor out of range")
        self._open = True
        self.opens += 1
        self.sensor.on_connect()

    async def close(self) -> None:
        self._open = False

    async def send(self, frame: bytes) -> None:
        if not self._open:
            raise TransportClosed("fake link down")
        self.sensor.handle(bytes(frame))

    def push(self, frame: bytes) -> None:
        if not self._open:
            return
        decoded = decode_frame(frame)
        asyncio.get_running_loop().call_soon(self._deliver_if_open, decoded)

    def _deliver_if_open(self, frame: object) -> None:
        if self._open:
            self._deliver(frame)

    def drop(self, why: str) -> None:
        if self._open:
            self._open = False
            self._dropped(why)
