"""The muwatch sensor as a Python object: `Device`, over any `Transport`.

    async with Device(transport) as dev:
        info = await dev.info()
        dev.add_listener(my_listener)          # samples, events, gaps, link state
        await dev.start_stream(StreamConfig(rate_hz=2000, channels=(1, 2)))
        ...
        result = await dev.stop_stream()       # waits for backfill, reports what is lost

What it does for the caller:
* requests carry ids and timeouts and are matched to their responses; results come back as
  the protocol package's typed bodies (DeviceInfo, DeviceStatus, Config, ResendResult...); an
  error status is a `muwatch.protocol` RequestFailed with the device's message;
* the stream is accounted by sample index: duplicates dropped, holes backfilled with RESEND,
  and what the device no longer has reported as an exact lost range (`on_gap`);
* a dropped link is reopened in the background with bounded exponential back-off, never
  blocking the caller's event loop; after it comes back the missed range is asked for again;
* device time is mapped to host time by an online linear fit (`dev.clock.fit`: offset, drift
  ppm, residual and jitter).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from muwatch.errors import DeviceError
from muwatch.protocol import constants as pc
from muwatch.protocol import requests as rq
from muwatch.protocol.assembler import SampleAssembler
from muwatch.protocol.bodies import Config, DeviceInfo, DeviceStatus, ResendResult
from muwatch.protocol.errors import ProtocolError, RequestFailed
from muwatch.protocol.frames import DataFrame, EventFrame, ResponseFrame
from muwatch.protocol.unwrap import SeqCounter
from muwatch.session.clock import ClockMap
from muwatch.transports.base import Transport, TransportClosed, TransportError

log = logging.getLogger("muwatch.device")

U32 = 1 << 32
NO_REQUEST_ID = pc.NO_REQUEST_ID
FLAG_RESENT = int(pc.Flag.RESENT)
RATES_HZ = pc.RATES_HZ
GAINS = pc.GAINS
MODES = tuple(m.name.lower() for m in pc.Mode)  # normal, test_signal, lead_off_check, shorted


_OVERWRITTEN = "overwritten in the sensor's buffer before it could be resent"


class DeviceTimeout(DeviceError):
    """The device did not answer in time (or the link stayed down for the whole timeout)."""


# -- typed results ------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamConfig:
    """What CONFIGURE sets: rate, channels (1-based), PGA gain, input mode, sample format."""

    rate_hz: int = 2000
    channels: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    gain: int = 24
    mode: str = "normal"
    fmt: int = 24

    def __post_init__(self) -> None:
        from muwatch.errors import UsageError

        if self.rate_hz not in RATES_HZ:
            raise UsageError(f"rate {self.rate_hz} Hz not supported; choose one of {RATES_HZ}")
        if not self.channels or any(not 1 <= c <= 8 for c in self.channels):
            raise UsageError(f"channels {self.channels} must be 1..8 (at least one)")
        if len(set(self.channels)) != len(self.channels):
            raise UsageError(f"channels {self.channels} repeat a channel")
        if self.gain not in GAINS:
            raise UsageError(f"gain {self.gain} not supported; choose one of {GAINS}")
        if self.mode not in MODES:
            raise UsageError(f"mode {self.mode!r} not supported; choose one of {MODES}")
        if self.fmt not in (16, 24):
            raise UsageError(f"sample format {self.fmt} must be 16 or 24 bits")
        object.__setattr__(self, "channels", tuple(sorted(self.channels)))

    @property
    def channel_mask(self) -> int:
        m = 0
        for c in self.channels:
            m |= 1 << (c - 1)
        return m

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @classmethod
    def from_config(cls, c: Config) -> StreamConfig:
        """From the protocol's CONFIGURE bytes (as GET_STATUS and CONFIGURE report them)."""
        return cls(
            rate_hz=c.rate_hz, channels=c.channels, gain=c.gain, mode=c.mode_name, fmt=int(c.fmt)
        )

    def request(self) -> rq.Request:
        return rq.build_configure(
            rate_hz=self.rate_hz,
            channels=self.channels,
            gain=self.gain,
            mode=pc.Mode[self.mode.upper()],
            fmt=self.fmt,
        )


# -- what listeners receive ---------------------------------------------------------------


@dataclass(frozen=True)
class SampleBlock:
    """New samples (never seen before), placed by their stream index."""

    first_index: int  # 64-bit stream index of codes[0]
    codes: np.ndarray  # int32 (n, channels), 24-bit code units (16-bit frames scaled by 256)
    device_time_us: int  # device clock of codes[0], unwrapped
    host_time: float  # arrival (host monotonic clock)
    flags: int
    live: bool  # True: at the head of the stream; False: filling a hole (backfill)

    @property
    def n(self) -> int:
        return int(self.codes.shape[0])


@dataclass(frozen=True)
class DeviceEvent:
    """An event from the device; sample indices in `fields` are unwrapped stream indices."""

    kind: str  # LEAD_OFF, BATTERY_LOW, OVERRUN, TRIGGER, STATE, LOG
    fields: dict[str, Any]
    host_time: float


@dataclass(frozen=True)
class LostRange:
    first: int
    count: int
    cause: str


class StreamListener(Protocol):
    """Implement any of these; missing methods are skipped."""

    def on_samples(self, block: SampleBlock) -> None: ...
    def on_event(self, event: DeviceEvent) -> None: ...
    def on_gap(self, lost: LostRange) -> None: ...
    def on_link(self, state: str, detail: str) -> None: ...


@dataclass
class StopResult:
    next_index: int  # samples in the stream (64-bit)
    lost: list[LostRange]
    confirmed: bool  # the device acknowledged STOP


@dataclass
class DeviceStats:
    """Counters for reports and the live view."""

    frames: int = 0
    samples_received: int = 0
    duplicate_samples: int = 0
    backfilled_samples: int = 0
    lost_samples: int = 0
    resend_requests: int = 0
    reconnects: int = 0
    link_drops: int = 0
    lost_frames: int = 0  # holes in the per-link data seq
    lost_events: int = 0
    unmatched_responses: int = 0
    bad_frame_responses: int = 0
    wrong_channel_frames: int = 0
    listener_errors: int = 0
    stalls: int = 0  # live data stopped on a link that was up (the sensor was asked why)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


# -- index accounting ---------------------------------------------------------------------


class StreamTracker:
    """Which sample indices arrived, which are missing (holes), which are lost for good.

    The sample index is authoritative (docs/protocol.md §2): every index ends up exactly once
    as received, duplicate, pending in a hole, or lost. O(log holes) per frame.
    """

    def __init__(self) -> None:
        self.hwm = 0  # one past the highest index seen
        self._starts: list[int] = []  # holes: sorted, disjoint [start, end)
        self._ends: list[int] = []
        self._known_lost: list[tuple[int, int, str]] = []  # declared ahead of hwm
        self.new_holes: list[tuple[int, int]] = []
        self.lost: list[LostRange] = []
        self.received = 0
        self.duplicates = 0
        self.filled = 0  # samples that arrived into a hole (backfill)

    @property
    def holes(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    @property
    def missing(self) -> int:
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    @property
    def lost_samples(self) -> int:
        return sum(r.count for r in self.lost)

    def take_new_holes(self) -> list[tuple[int, int]]:
        out, self.new_holes = self.new_holes, []
        return out

    def accept(self, first: int, n: int) -> list[tuple[int, int]]:
        """Record a frame of n samples at `first`; returns the sub-ranges that are new."""
        end = first + n
        new: list[tuple[int, int]] = []
        if first < self.hwm:
            filled = self._fill(first, min(end, self.hwm))
            self.filled += sum(e - s for s, e in filled)
            new.extend(filled)
        if end > self.hwm:
            start = max(first, self.hwm)
            if start > self.hwm:
                self._open(self.hwm, start)
            new.append((start, end))
            self.hwm = end
        got = sum(e - s for s, e in new)
        self.received += got
        self.duplicates += n - got
        return new

    def expect_until(self, next_index: int) -> None:
        """The device says every index below `next_index` exists: what is absent is a hole."""
        if next_index > self.hwm:
            self._open(self.hwm, next_index)
            self.hwm = next_index

    def declare_lost(self, first: int, count: int, cause: str) -> list[LostRange]:
        """These indices will never arrive; returns the parts newly declared lost."""
        end = first + count
        out: list[LostRange] = []
        if first < self.hwm:
            for s, e in self._fill(first, min(end, self.hwm)):
                out.append(LostRange(s, e - s, cause))
        if end > self.hwm:
            start = max(first, self.hwm)
            self._known_lost.append((start, end, cause))
            self._known_lost.sort()
            out.append(LostRange(start, end - start, cause))
        self.lost.extend(out)
        return out

    def _open(self, start: int, end: int) -> None:
        pieces = [(start, end)]
        keep = []
        for ks, ke, kc in self._known_lost:
            if ke <= start:
                continue
            if ks >= end:
                keep.append((ks, ke, kc))
                continue
            nxt = []
            for s, e in pieces:
                if s < ks:
                    nxt.append((s, min(e, ks)))
                if e > ke:
                    nxt.append((max(s, ke), e))
            pieces = nxt
            if ke > end:
                keep.append((end, ke, kc))
        self._known_lost = keep
        for s, e in pieces:
            if e <= s:
                continue
            if self._ends and self._ends[-1] == s:
                self._ends[-1] = e
            else:
                self._starts.append(s)
                self._ends.append(e)
            self.new_holes.append((s, e))

    def _fill(self, first: int, end: int) -> list[tuple[int, int]]:
        out = []
        i = bisect.bisect_right(self._ends, first)
        while i < len(self._starts) and self._starts[i] < end:
            s, e = self._starts[i], self._ends[i]
            a, b = max(s, first), min(e, end)
            out.append((a, b))
            if s < a and b < e:
                self._ends[i] = a
                self._starts.insert(i + 1, b)
                self._ends.insert(i + 1, e)
                i += 2
            elif s < a:
                self._ends[i] = a
                i += 1
            elif b < e:
                self._starts[i] = b
                i += 1
            else:
                del self._starts[i]
                del self._ends[i]
        return out


# -- the client -----------------------------------------------------------------------------


@dataclass
class _Backfill:
    """A range asked for with RESEND and when to give up waiting for it."""

    start: int
    end: int
    deadline: float
    attempts: int


@dataclass
class _Pending:
    future: asyncio.Future[Any]
    opcode: int


def _opname(opcode: int) -> str:
    try:
        return pc.Opcode(opcode).name
    except ValueError:
        return f"opcode 0x{opcode:02x}"


class Device:
    """One sensor over one transport; see the module docstring."""

    def __init__(
        self,
        transport: Transport,
        *,
        request_timeout: float = 3.0,
        connect_timeout: float = 10.0,
        auto_reconnect: bool = True,
        backoff: tuple[float, float] = (0.1, 3.0),
        reconnect_timeout: float | None = None,
        backfill: bool = True,
        resend_attempts: int = 3,
        stall_timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.auto_reconnect = auto_reconnect
        self.backoff = backoff
        self.reconnect_timeout = reconnect_timeout
        self.backfill = backfill
        self.resend_attempts = resend_attempts
        self.stall_timeout = stall_timeout
        self._last_stall_check = 0.0
        self._clock = clock
        self.stats = DeviceStats()
        self.clock = ClockMap()
        self.tracker = StreamTracker()
        self.config: StreamConfig | None = None
        self.device_info: DeviceInfo | None = None
        self.last_status: DeviceStatus | None = None
        self.link_state = "closed"  # closed, open, lost, reconnecting, gave_up
        self.link_detail = ""
        self.streaming = False
        self._want_stream = False  # the caller wants the stream running (restart after reboot)
        self._stream_active = False  # between start_stream() and the end of stop_stream()
        self._listeners: list[Any] = []
        self._pending: dict[int, _Pending] = {}
        self._next_id = random.randrange(0, 0xFFFF)
        self._link_up = asyncio.Event()
        self._closing = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._backfill_task: asyncio.Task[None] | None = None
        self._backfill_wake = asyncio.Event()
        self._outstanding: list[_Backfill] = []
        # The protocol's assembler unwraps indices and device times, counts seq holes and
        # drops duplicates; the tracker above it keeps holes and lost ranges for backfill.
        self._asm = SampleAssembler(origin=0, expect_seq=None)
        self._asm_done = DeviceStats()  # counters of assemblers of earlier segments
        self._event_seq = SeqCounter(expect=None)
        self._index_base = 0  # added to device indices (after a device restart)
        self._time_base = 0  # added to device times (after a device restart)
        self._last_live_host = 0.0
        self._last_live_dev_t = 0  # device time of the newest live sample (unwrapped)
        self._last_live_index = -1  # its stream index
        self.events_seen = 0
        transport.set_receiver(self._on_frame)
        transport.set_disconnect_handler(self._on_drop)

    # -- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> Device:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> DeviceInfo:
        """Connect and read GET_INFO (refusing a protocol version this host does not speak)."""
        self._closing = False
        await self.transport.open(timeout=self.connect_timeout)
        self._set_link("open", self.transport.description)
        self._reset_link_counters()
        # A sensor that has just booted may miss the first request: ask again until the
        # connect timeout is used up.
        deadline = self._clock() + self.connect_timeout
        while True:
            try:
                info = await self.info()
                break
            except DeviceTimeout:
                if self._clock() + self.request_timeout > deadline:
                    raise
        if info.protocol_version != pc.PROTOCOL_VERSION:
            await self.close()
            raise DeviceError(
                f"{info.device_name} speaks protocol version {info.protocol_version}; this "
                f"muwatch speaks {pc.PROTOCOL_VERSION}. Update the firmware (make deploy) or muwatch"
            )
        self._backfill_task = asyncio.ensure_future(self._backfill_loop())
        return info

    async def close(self) -> None:
        """Stop reconnecting and disconnect; never raises for an already dead link."""
        self._closing = True
        for task in (self._reconnect_task, self._backfill_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._reconnect_task = self._backfill_task = None
        self._fail_pending(TransportClosed("the device connection was closed"))
        with contextlib.suppress(Exception):
            await self.transport.close()
        self._link_up.clear()
        self._set_link("closed", "")

    def add_listener(self, listener: Any) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Any) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    @property
    def is_connected(self) -> bool:
        return self._link_up.is_set()

    def estimate_index(self, host_time: float | None = None) -> int:
        """Stream index of the conversion at `host_time` (default now), from the clock map.

        For annotations the host times itself (phases, markers while the link is down);
        MARKER asks the device and is exact."""
        t = self._clock() if host_time is None else host_time
        fit = self.clock.fit
        if fit is None or self.config is None or self._last_live_index < 0:
            return self.tracker.hwm
        dev_now = fit.to_device(t)
        step = (dev_now - self._last_live_dev_t) * self.config.rate_hz / 1e6
        return max(0, self._last_live_index + int(round(step)))

    # -- requests -------------------------------------------------------------------------
    async def request(self, req: rq.Request, *, timeout: float | None = None) -> Any:
        """Send one request and wait for its response; returns the typed result."""
        timeout = self.request_timeout if timeout is None else timeout
        deadline = self._clock() + timeout
        opcode = int(req.opcode)
        await self._wait_link(timeout, opcode)
        rid = self._new_request_id()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending[rid] = _Pending(fut, opcode)
        try:
            await self.transport.send(req.encode(rid))
            remaining = max(0.01, deadline - self._clock())
            try:
                return await asyncio.wait_for(asyncio.shield(fut), remaining)
            except TimeoutError:
                raise DeviceTimeout(
                    f"{_opname(opcode)}: no answer from the device within {timeout:g} s"
                ) from None
        finally:
            self._pending.pop(rid, None)

    async def info(self) -> DeviceInfo:
        self.device_info = await self.request(rq.build_get_info())
        return self.device_info

    async def status(self) -> DeviceStatus:
        self.last_status = await self.request(rq.build_get_status())
        return self.last_status

    async def configure(self, config: StreamConfig) -> StreamConfig:
        applied = StreamConfig.from_config(await self.request(config.request()))
        self.config = applied
        return applied

    async def ping(self) -> tuple[float, int]:
        """Round-trip time (s) and the device time at receipt."""
        t0 = self._clock()
        r = await self.request(rq.build_ping())
        return self._clock() - t0, int(r.device_time_us)

    async def set_time(self) -> int:
        r = await self.request(rq.build_set_time())
        return int(r.device_time_us)

    async def marker(self, code: int, label: str = "") -> int:
        """Ask the device to mark the next conversion; returns its stream index."""
        r = await self.request(rq.build_marker(code, label))
        return self._unwrap_index(int(r.sample_index))

    async def resend(self, first: int, count: int) -> ResendResult:
        """RESEND [first, first+count) (stream indices; the answer's indices are unwrapped).

        The samples arrive as data frames through the listeners."""
        self.stats.resend_requests += 1
        r = await self.request(rq.build_resend(first - self._index_base, count))
        return ResendResult(
            first_queued=self._unwrap_index(int(r.first_queued)),
            count_queued=int(r.count_queued),
            oldest_index=self._unwrap_index(int(r.oldest_index)),
            next_index=self._unwrap_index(int(r.next_index)),
        )

    async def reboot(self) -> None:
        await self.request(rq.build_reboot())

    # -- streaming ------------------------------------------------------------------------
    async def start_stream(self, config: StreamConfig | None = None) -> StreamConfig:
        """Configure (if given) and START; the stream index restarts at 0."""
        if config is not None:
            await self.configure(config)
        st = await self.status()
        if st.streaming:
            await self.request(rq.build_stop())
        self.config = StreamConfig.from_config(st.config) if config is None else self.config
        assert self.config is not None
        self.tracker = StreamTracker()
        self.clock = ClockMap()
        self._outstanding.clear()
        self._index_base = 0
        self._time_base = 0
        self._asm = SampleAssembler(origin=0, expect_seq=None)
        self._asm_done = DeviceStats()
        self._want_stream = True
        self._stream_active = True
        await self.request(rq.build_start())
        self.streaming = True
        if self.device_info is not None:
            # ring capacity depends on the configuration
            with contextlib.suppress(DeviceError):
                await self.info()
        return self.config

    async def stop_stream(self, drain_timeout: float = 10.0) -> StopResult:
        """STOP, then wait (bounded) for missing samples to be backfilled; report the rest."""
        self._want_stream = False
        confirmed = False
        try:
            r = await self.request(rq.build_stop(), timeout=max(self.request_timeout, 5.0))
            next_index = self._unwrap_index(int(r.next_index))
            self.tracker.expect_until(next_index)
            self._wake_backfill()
            confirmed = True
        except DeviceError as exc:
            log.warning("STOP not confirmed: %s", exc)
        self.streaming = False
        end = self._clock() + drain_timeout
        while self.tracker.missing and self._clock() < end:
            await asyncio.sleep(0.05)
        lost = []
        for s, e in self.tracker.holes:
            cause = "not received before the end of the recording"
            lost.extend(self._declare_lost(s, e - s, cause))
        self._stream_active = False
        return StopResult(self.tracker.hwm, lost, confirmed)

    # -- receive path ---------------------------------------------------------------------
    def _on_frame(self, frame: Any) -> None:
        try:
            if isinstance(frame, DataFrame):
                self._on_data(frame)
            elif isinstance(frame, EventFrame):
                self._on_event(frame)
            elif isinstance(frame, ResponseFrame):
                self._on_response(frame)
        except Exception:  # a bug here must not kill the transport's reader
            log.exception("error handling %r", type(frame).__name__)

    def _on_response(self, frame: ResponseFrame) -> None:
        if frame.request_id == NO_REQUEST_ID:
            self.stats.bad_frame_responses += 1
            log.warning("the device rejected a request frame: %s", frame.message)
            return
        pending = self._pending.get(frame.request_id)
        if pending is None or pending.future.done() or pending.opcode != frame.opcode:
            self.stats.unmatched_responses += 1
            return
        try:
            pending.future.set_result(frame.result())
        except (RequestFailed, DeviceError) as exc:
            pending.future.set_exception(exc)

    def _on_data(self, frame: DataFrame) -> None:
        host_t = self._clock()
        cfg = self.config
        if cfg is None or not self._stream_active:
            return
        self.stats.frames += 1
        if frame.channel_mask != cfg.channel_mask:
            self.stats.wrong_channel_frames += 1
            return
        try:
            blocks = self._asm.add(frame)
        except ProtocolError:  # format changed within the stream
            self.stats.wrong_channel_frames += 1
            return
        asm, done = self._asm, self._asm_done
        self.stats.lost_frames = done.lost_frames + asm.lost_frames
        self.stats.duplicate_samples = done.duplicate_samples + asm.duplicate_samples
        if not blocks:
            return
        resent = frame.resent
        fs = cfg.rate_hz
        base = self._index_base
        frame_t = blocks[0].frame_time_us + self._time_base
        if not resent:
            self.clock.add(frame_t + int((frame.n_samples - 1) * 1e6 / fs), host_t)
        for b in blocks:
            start = b.start + base
            n = int(b.samples.shape[0])
            self.tracker.accept(start, n)
            live = start + n == self.tracker.hwm and not resent
            if live:
                self._last_live_host = host_t
                self._last_live_dev_t = frame_t + int((b.start - b.frame_start + n - 1) * 1e6 / fs)
                self._last_live_index = start + n - 1
            codes = b.samples.astype(np.int32) << 8 if frame.fmt == 16 else b.samples
            block = SampleBlock(
                first_index=start,
                codes=codes,
                device_time_us=frame_t + int((b.start - b.frame_start) * 1e6 / fs),
                host_time=host_t,
                flags=frame.flags,
                live=live,
            )
            self._emit("on_samples", block)
        self.stats.samples_received = self.tracker.received
        self.stats.backfilled_samples = self.tracker.filled
        if self.tracker.new_holes:
            self._wake_backfill()

    def _on_event(self, frame: EventFrame) -> None:
        host_t = self._clock()
        self.stats.lost_events += self._event_seq.update(frame.event_seq)
        if frame.event is None:
            if frame.error:
                log.warning("event 0x%02x with a bad body: %s", frame.code, frame.error)
            return
        self.events_seen += 1
        kind = pc.EventCode(frame.code).name
        fields = {f.name: getattr(frame.event, f.name) for f in dataclasses.fields(frame.event)}
        for key in ("sample_index", "first_lost_index", "next_index"):
            if key in fields:
                fields[key] = self._unwrap_index(int(fields[key]))
        if kind == "OVERRUN":
            cause = (
                "the sensor missed conversions (overrun)"
                if int(fields.get("cause", 0)) == pc.OverrunCause.MISSED_CONVERSIONS
                else "the sensor's buffer was overwritten before the link could send it"
            )
            self._declare_lost(int(fields["first_lost_index"]), int(fields["count"]), cause)
        elif kind == "STATE" and not fields.get("streaming") and self._stream_active:
            self.streaming = False
            reason = int(fields.get("reason", 0))
            if self._want_stream and reason in (
                pc.StateReason.WATCHDOG_OR_BOOT,
                pc.StateReason.ERROR,
            ):
                # The sensor restarted or failed: its index restarted too; resync restarts it.
                self._last_live_host = self._last_live_host or host_t
                asyncio.ensure_future(self._resync_quietly())
            else:
                self.tracker.expect_until(int(fields["next_index"]))
                self._wake_backfill()
        self._emit("on_event", DeviceEvent(kind, fields, host_t))

    def _unwrap_index(self, value: int) -> int:
        return self._asm.unwrap_index(value) + self._index_base

    def _declare_lost(self, first: int, count: int, cause: str) -> list[LostRange]:
        parts = self.tracker.declare_lost(first, count, cause)
        self._outstanding = [
            b for b in self._outstanding if not (first <= b.start and b.end <= first + count)
        ]
        self.stats.lost_samples = self.tracker.lost_samples
        out = [LostRange(p.first, p.count, p.cause) for p in parts]
        for lr in out:
            self._emit("on_gap", lr)
        return out

    def _emit(self, method: str, arg: Any, *more: Any) -> None:
        for listener in list(self._listeners):
            fn = getattr(listener, method, None)
            if fn is None:
                continue
            try:
                fn(arg, *more)
            except Exception:
                self.stats.listener_errors += 1
                log.exception("listener %r failed in %s", listener, method)

    # -- link loss, reconnect, backfill ---------------------------------------------------
    def _set_link(self, state: str, detail: str) -> None:
        self.link_state, self.link_detail = state, detail
        if state == "open":
            self._link_up.set()
        else:
            self._link_up.clear()
        self._emit("on_link", state, detail)

    def _reset_link_counters(self) -> None:
        self._asm.new_link(None)
        self._event_seq.reset(None)

    def _on_drop(self, why: str) -> None:
        if self._closing:
            return
        self.stats.link_drops += 1
        self._fail_pending(TransportClosed(f"link lost: {why}"))
        self._set_link("lost", why)
        if self.auto_reconnect and (self._reconnect_task is None or self._reconnect_task.done()):
            self._reconnect_task = asyncio.ensure_future(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        t0 = self._clock()
        attempt = 0
        lo, hi = self.backoff
        last_error = ""
        while not self._closing:
            delay = min(hi, lo * (2**attempt)) * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)
            if self._closing:
                return
            if self.reconnect_timeout is not None and self._clock() - t0 > self.reconnect_timeout:
                self._set_link(
                    "gave_up", f"no connection for {self.reconnect_timeout:g} s: {last_error}"
                )
                return
            self._set_link("reconnecting", f"attempt {attempt + 1}")
            try:
                await self.transport.open(timeout=self.connect_timeout)
            except TransportError as exc:
                last_error = str(exc)
                attempt += 1
                continue
            except Exception as exc:  # a backend bug must not end reconnecting
                last_error = repr(exc)
                attempt += 1
                continue
            self.stats.reconnects += 1
            self._reset_link_counters()
            self._set_link("open", f"reconnected after {self._clock() - t0:.1f} s")
            try:
                await self._resync()
            except DeviceError as exc:
                log.info("resync after reconnect failed: %s", exc)
            if self._link_up.is_set() or self._closing:
                return
            attempt += 1  # the link dropped again at once: keep trying

    async def _resync_quietly(self) -> None:
        try:
            await self._resync()
        except DeviceError as exc:
            log.warning("could not resume the stream: %s", exc)

    async def _resync(self) -> None:
        """After a reconnect: learn how far the stream went and ask for what was missed."""
        if not self._want_stream:
            return
        st = await self.status()
        if st.streaming:
            self.streaming = True
            self.tracker.expect_until(self._unwrap_index(st.next_index))
            self._wake_backfill()
            return
        # The device stopped (reboot, watchdog, low battery) while we were away.
        elapsed = max(0.0, self._clock() - self._last_live_host)
        assert self.config is not None
        fs = self.config.rate_hz
        old_hwm = self.tracker.hwm
        new_base = old_hwm + int(round(elapsed * fs))
        self._declare_lost(
            old_hwm,
            max(1, new_base - old_hwm),
            "the sensor stopped or restarted (length estimated by the host clock)",
        )
        last_t = self._last_live_dev_t - self._time_base  # newest device time, old segment
        self._asm_done.lost_frames += self._asm.lost_frames
        self._asm_done.duplicate_samples += self._asm.duplicate_samples
        self._asm = SampleAssembler(origin=0, expect_seq=None)
        self._index_base = new_base
        self._time_base += last_t + int(elapsed * 1e6)
        self.tracker.expect_until(new_base)
        self.tracker.take_new_holes()
        try:
            if StreamConfig.from_config(st.config) != self.config:
                await self.configure(self.config)
            r = await self.request(rq.build_start())
            self._time_base -= int(r.device_time_us)
            self.streaming = True
            self._emit(
                "on_event",
                DeviceEvent("RESTARTED", {"sample_index": new_base}, self._clock()),
            )
        except DeviceError as exc:
            self.streaming = False
            log.warning("could not restart the stream: %s", exc)

    def _wake_backfill(self) -> None:
        self._backfill_wake.set()

    async def _backfill_loop(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._backfill_wake.wait(), 0.25)
            self._backfill_wake.clear()
            if not self._link_up.is_set() or self.config is None:
                continue
            try:
                await self._check_stall()
                if self.backfill:
                    await self._backfill_once()
            except DeviceError as exc:
                log.info("backfill paused: %s", exc)
            except Exception:
                log.exception("backfill failed")

    async def _check_stall(self) -> None:
        """No live data for `stall_timeout` on a link that is up: ask the sensor why (it may
        have restarted without a word, or frames stopped); resync restarts or backfills."""
        now = self._clock()
        if (
            not self._want_stream
            or self._last_live_host <= 0
            or now - self._last_live_host < self.stall_timeout
            or now - self._last_stall_check < self.stall_timeout
        ):
            return
        self._last_stall_check = now
        self.stats.stalls += 1
        log.info("no data for %.1f s: asking the sensor", now - self._last_live_host)
        await self._resync()

    async def _backfill_once(self) -> None:
        now = self._clock()
        assert self.config is not None
        fs = self.config.rate_hz
        cap = max(1, self.device_info.ring_capacity if self.device_info else 10 * fs)
        self.tracker.take_new_holes()
        for s, e in self.tracker.holes:
            covered = [b for b in self._outstanding if b.start < e and s < b.end]
            if covered and all(b.deadline > now for b in covered):
                continue
            attempts = max((b.attempts for b in covered), default=0)
            self._outstanding = [b for b in self._outstanding if b not in covered]
            if attempts >= self.resend_attempts:
                self._declare_lost(s, e - s, f"not resent after {attempts} RESEND requests")
                continue
            # Ask for the newest part first: its answer says what the ring still holds, so
            # everything older is declared lost in one exact range.
            tail = max(s, e - cap)
            oldest = await self._resend_part(tail, e, attempts, fs)
            if oldest > s:
                self._declare_lost(s, min(oldest, tail) - s, _OVERWRITTEN)
            start = max(s, min(oldest, tail))
            while start < tail:
                stop = min(tail, start + cap)
                await self._resend_part(start, stop, attempts, fs)
                start = stop

    async def _resend_part(self, start: int, stop: int, attempts: int, fs: int) -> int:
        """RESEND [start, stop); declare lost what the ring lost; returns its oldest index."""
        r = await self.resend(start, stop - start)
        q_first, q_stop = r.first_queued, r.first_queued + r.count_queued
        if r.count_queued == 0:
            q_first = q_stop = max(start, min(stop, r.oldest_index))
        if q_first > start and r.oldest_index <= start:
            q_first = start  # nothing older was lost; the device queued less (not expected)
        if q_first > start:
            self._declare_lost(start, q_first - start, _OVERWRITTEN)
        if q_stop > q_first:
            wait = 2.0 + 2.0 * (q_stop - q_first) / fs
            self._outstanding.append(_Backfill(q_first, q_stop, self._clock() + wait, attempts + 1))
        return r.oldest_index

    async def _wait_link(self, timeout: float, opcode: int) -> None:
        if self._link_up.is_set():
            return
        if self._closing or (self.link_state in ("closed", "gave_up") and not self.auto_reconnect):
            raise TransportClosed(f"{_opname(opcode)}: not connected to the device")
        try:
            await asyncio.wait_for(self._link_up.wait(), timeout)
        except TimeoutError:
            raise DeviceTimeout(
                f"{_opname(opcode)}: the device stayed unreachable for {timeout:g} s "
                f"({self.link_detail or self.link_state})"
            ) from None

    def _new_request_id(self) -> int:
        for _ in range(0x10000):
            self._next_id = (self._next_id + 1) % 0xFFFF  # 0xFFFF is reserved
            if self._next_id not in self._pending:
                return self._next_id
        raise DeviceError("too many requests in flight")

    def _fail_pending(self, exc: Exception) -> None:
        for p in list(self._pending.values()):
            if not p.future.done():
                p.future.set_exception(exc)
                p.future.exception()  # mark retrieved; the awaiting request re-raises it
