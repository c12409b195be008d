"""Record a session from a `muwatch.device.Device`: journal while recording, BDF+ at the end.

    rec = Recorder(device, SessionStore(data_dir), subject="p01", muscle="FDI", task="grip")
    await rec.start(StreamConfig(rate_hz=2000, channels=(1, 2)))
    rec.begin_phase("rest"); ...; rec.end_phase()          # protocol phases (with duration)
    await rec.marker(1, "key 1")                           # placed by the device, exact
    rec.annotate("note text")                              # placed by the host clock map
    summary = await rec.stop()                             # BDF+, session.json, index

Guided sessions (muwatch.guide) use exactly this API. Nothing is lost to a crash: the journal
is flushed at least every `flush_interval` seconds; `muwatch recover` finishes it.
A storage failure (disk full, folder gone for good) stops the recording with a StorageError
that says where the data are; `failure` holds it and `failed` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from muwatch.device import Device, DeviceEvent, LostRange, SampleBlock, StreamConfig
from muwatch.errors import DeviceError, MuwatchError, StorageError
from muwatch.session import journal as jr
from muwatch.session.finalise import finalise_session
from muwatch.session.index import SessionIndex
from muwatch.session.live import LiveStats
from muwatch.session.meta import SessionMeta, check_label, default_labels, iso, utc_now
from muwatch.session.store import JOURNAL_NAME, SUMMARY_NAME, SessionStore, write_json

log = logging.getLogger("muwatch.recorder")

USB_POWER_WARNING = (
    "the sensor is on USB power: never record from electrodes on a person while it is "
    "connected to a mains-powered computer or charger; unplug the cable and run on battery "
    "(docs/safety.md)"
)


def lead_off_text(labels: list[str], channels: list[int], loff_p: int, loff_n: int) -> str:
    off = []
    for label, ch in zip(labels, channels, strict=True):
        bit = 1 << (ch - 1)
        sides = ("+" if loff_p & bit else "") + ("-" if loff_n & bit else "")
        if sides:
            off.append(f"{label}{sides}")
    return "LEAD_OFF " + " ".join(off) if off else "LEAD_OK all electrodes in contact"


class Recorder:
    """One recording session; see the module docstring."""

    def __init__(
        self,
        device: Device,
        store: SessionStore,
        *,
        subject: str,
        muscle: str,
        task: str,
        channel_labels: list[str] | None = None,
        power_line_hz: float = 50.0,
        notes: str = "",
        placement_scheme: str = "Other",
        placement_description: str = "",
        reference: str = "bipolar",
        lsl: bool = False,
        use_index: bool = True,
        flush_interval: float = 0.25,
        on_warning: Callable[[str], None] | None = None,
        status_interval: float = 10.0,
    ) -> None:
        self.device = device
        self.store = store
        self.subject = check_label("subject", subject)
        self.task = check_label("task", task)
        if not muscle or not muscle.strip():
            from muwatch.errors import UsageError

            raise UsageError("--muscle must name the muscle recorded, e.g. 'FDI' or 'biceps'")
        self.muscle = muscle.strip()
        self.channel_labels = channel_labels
        self.power_line_hz = power_line_hz
        self.notes = notes
        self.placement_scheme = placement_scheme
        self.placement_description = placement_description
        self.reference = reference
        self.want_lsl = lsl
        self.use_index = use_index
        self.flush_interval = flush_interval
        self.status_interval = status_interval
        self.on_warning = on_warning
        self._usb_power = False  # last reported power source (GET_STATUS link_flags bit 3)
        self._electrodes = False  # front-end mode "normal": electrodes, maybe on a person
        self.session_id = ""
        self.folder: Path | None = None
        self.meta: SessionMeta | None = None
        self.live: LiveStats | None = None
        self.failure: MuwatchError | None = None
        self.failed = asyncio.Event()
        self.summary: dict[str, Any] | None = None
        self._writer: jr.JournalWriter | None = None
        self._lsl: Any = None
        self._ticker: asyncio.Task[None] | None = None
        self._phase: tuple[int, str, int] | None = None  # (id, name, start index)
        self._annot_id = 0
        self._stopping = False

    # -- start --------------------------------------------------------------------------
    async def start(self, config: StreamConfig | None = None) -> str:
        """Configure the device, open the journal, start streaming; returns the session id."""
        dev = self.device
        info = dev.device_info or await dev.info()
        cfg = await dev.configure(config) if config is not None else None
        status = await dev.status()
        if cfg is None:
            cfg = StreamConfig.from_config(status.config)
        labels = self.channel_labels or default_labels(list(cfg.channels))
        if len(labels) != cfg.n_channels:
            from muwatch.errors import UsageError

            raise UsageError(
                f"{len(labels)} channel labels given for {cfg.n_channels} channels {cfg.channels}"
            )
        created = utc_now()
        self.session_id, self.folder = self.store.new_session_dir(self.subject, created)
        self.meta = SessionMeta(
            session_id=self.session_id,
            subject=self.subject,
            muscle=self.muscle,
            task=self.task,
            sample_rate=float(cfg.rate_hz),
            channel_labels=list(labels),
            channel_numbers=list(cfg.channels),
            gain=cfg.gain,
            vref=info.vref_volts,
            mode=cfg.mode,
            created_utc=iso(created),
            host_mono_ref=time.monotonic(),
            session_label=f"{created:%Y%m%dT%H%M%S}",
            power_line_hz=self.power_line_hz,
            placement_scheme=self.placement_scheme,
            placement_description=self.placement_description,
            reference=self.reference,
            notes=self.notes,
            device={
                "serial": info.serial_number,
                "firmware": info.firmware_version,
                "board": info.board,
                "name": info.device_name,
                "protocol_version": info.protocol_version,
                "transport": dev.transport.description,
                "sample_format_bits": cfg.fmt,
                "power_at_start": "usb" if status.usb_power else "battery",
            },
        )
        self._writer = jr.JournalWriter(
            self.folder / JOURNAL_NAME,
            flush_interval=self.flush_interval,
            on_warning=self._warn_and_restore,
        )
        self._writer.append_json(jr.META, self.meta.to_dict())
        self._writer.flush(sync=True)
        write_json(
            self.folder / SUMMARY_NAME,
            {"session_id": self.session_id, "status": "recording", "meta": self.meta.to_dict()},
        )
        self._index_upsert(
            {"session_id": self.session_id, "status": "recording", "meta": self.meta.to_dict()}
        )
        self.live = LiveStats(list(cfg.channels), cfg.rate_hz, self.meta.uv_per_code)
        if self.want_lsl:
            from muwatch.lsl import LslOutlet

            self._lsl = LslOutlet(
                serial=info.serial_number,
                channel_labels=labels,
                sample_rate=cfg.rate_hz,
                uv_per_code=self.meta.uv_per_code,
                model=info.board,
                firmware=info.firmware_version,
                session_id=self.session_id,
            )
        dev.add_listener(self.live)
        dev.add_listener(self)
        try:
            await dev.start_stream()
        except BaseException:
            # Nothing was recorded: leave no empty session behind.
            self._discard()
            raise
        self._ticker = asyncio.ensure_future(self._tick())
        self._electrodes = cfg.mode == "normal"
        self._power_source(status.usb_power)
        return self.session_id

    @property
    def usb_power(self) -> bool:
        """The power source the sensor last reported: True on USB (see docs/safety.md)."""
        return self._usb_power

    def _power_source(self, usb_power: bool) -> None:
        """Electrodes on a person while tied to mains through USB: warn and keep it in the file,
        at the start and whenever a status poll finds the cable plugged in; note when it is
        unplugged again. Never refuse: bench work over USB with the test signal or a phantom is
        legitimate."""
        was, self._usb_power = self._usb_power, usb_power
        if not self._electrodes or usb_power == was:
            return
        if usb_power:
            self.annotate(f"USB_POWER {USB_POWER_WARNING}", kind="safety")
            self._warn(USB_POWER_WARNING)
        else:
            self.annotate("USB_POWER_OFF the sensor is on battery again", kind="safety")

    def _discard(self) -> None:
        self.device.remove_listener(self)
        if self.live is not None:
            self.device.remove_listener(self.live)
        if self._lsl is not None:
            self._lsl.close()
        if self._writer is not None:
            self._writer.abandon()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        if self.use_index:
            with contextlib.suppress(StorageError):
                SessionIndex(self.store.index_path).remove(self.session_id)
        self.folder = None

    # -- annotations ----------------------------------------------------------------------
    def annotate(
        self,
        text: str,
        *,
        kind: str = "note",
        index: int | None = None,
        duration_samples: int = 0,
    ) -> int:
        """Add an annotation at `index` (default: now, by the clock map); returns the index."""
        idx = self.device.estimate_index() if index is None else int(index)
        self._annot_id += 1
        self._append_json(
            jr.ANNOT,
            {
                "id": self._annot_id,
                "index": idx,
                "duration": int(duration_samples),
                "text": text,
                "kind": kind,
            },
        )
        if self._lsl is not None:
            self._lsl.marker(text, time.monotonic())
        return idx

    async def marker(self, code: int, label: str = "") -> int:
        """A marker placed by the device at the next conversion (host clock if unreachable)."""
        text = f"MARKER {code}" + (f": {label}" if label else "")
        try:
            idx = await self.device.marker(code, label)
        except DeviceError as exc:
            log.info("marker placed by the host clock (%s)", exc)
            return self.annotate(text + " (host-timed)", kind="marker")
        return self.annotate(text, kind="marker", index=idx)

    def begin_phase(self, name: str) -> int:
        """Start a protocol phase (ends at end_phase(), the next begin_phase() or stop())."""
        if self._phase is not None:
            self.end_phase()
        idx = self.device.estimate_index()
        self._annot_id += 1
        self._phase = (self._annot_id, name, idx)
        self._append_json(
            jr.ANNOT,
            {
                "id": self._annot_id,
                "index": idx,
                "duration": 0,
                "text": f"PHASE {name}",
                "kind": "phase",
                "open": True,
            },
        )
        return idx

    def end_phase(self) -> None:
        if self._phase is None:
            return
        pid, name, start = self._phase
        self._phase = None
        end = self.device.estimate_index()
        self._append_json(
            jr.ANNOT,
            {
                "id": pid,
                "index": start,
                "duration": max(0, end - start),
                "text": f"PHASE {name}",
                "kind": "phase",
            },
        )

    # -- stop -----------------------------------------------------------------------------
    async def stop(self, *, drain_timeout: float = 10.0, reason: str = "stopped") -> dict[str, Any]:
        """Stop streaming, wait for backfill, close the journal and finalise the session."""
        if self._stopping:
            raise StorageError("stop() called twice")
        self._stopping = True
        self.end_phase()
        result = None
        if self.failure is None:
            try:
                result = await self.device.stop_stream(drain_timeout=drain_timeout)
            except MuwatchError as exc:
                log.warning("stopping the stream failed: %s", exc)
        await self._stop_ticker()
        self.device.remove_listener(self)
        if self.live is not None:
            self.device.remove_listener(self.live)
        if self._lsl is not None:
            self._lsl.close()
        assert self._writer is not None and self.folder is not None
        if self.failure is not None:
            self._writer.abandon()
            self._index_upsert(
                {
                    "session_id": self.session_id,
                    "status": "interrupted",
                    "meta": self.meta.to_dict() if self.meta else {},
                }
            )
            raise self.failure
        end = {
            "reason": reason,
            "next_index": result.next_index if result else self.device.tracker.hwm,
            "stop_confirmed": bool(result and result.confirmed),
            "stats": self._stats(),
        }
        try:
            self._writer.append_json(jr.END, end)
            self._writer.close()
        except StorageError as exc:
            self._writer.abandon()
            raise exc
        summary = finalise_session(self.folder)
        self.summary = summary
        self._index_upsert(summary)
        return summary

    async def abort(self, why: str) -> None:
        """Stop without finalising (the journal stays for `muwatch recover`)."""
        self._stopping = True
        with contextlib.suppress(MuwatchError):
            await self.device.stop_stream(drain_timeout=0.5)
        await self._stop_ticker()
        self.device.remove_listener(self)
        if self._writer is not None:
            with contextlib.suppress(StorageError):
                self._writer.append_json(jr.STATS, self._stats() | {"aborted": why})
                self._writer.close()
            self._writer.abandon()

    # -- listener ---------------------------------------------------------------------------
    def on_samples(self, block: SampleBlock) -> None:
        w = self._writer
        if w is None or self.failure is not None:
            return
        try:
            w.append_data(
                block.first_index, block.device_time_us, block.host_time, block.flags, block.codes
            )
        except StorageError as exc:
            self._fail(exc)
            return
        if self._lsl is not None and block.live:
            fit = self.device.clock.fit
            newest = block.device_time_us + (block.n - 1) * 1e6 / (
                self.meta.sample_rate if self.meta else 1
            )
            self._lsl.push(block.codes, fit.to_host(newest) if fit else block.host_time)

    def on_gap(self, lost: LostRange) -> None:
        self._append_json(jr.GAP, {"first": lost.first, "count": lost.count, "cause": lost.cause})

    def on_event(self, ev: DeviceEvent) -> None:
        f = ev.fields
        meta = self.meta
        if meta is None:
            return
        if ev.kind == "LEAD_OFF":
            text = lead_off_text(
                meta.channel_labels, meta.channel_numbers, int(f["loff_p"]), int(f["loff_n"])
            )
            self._annot(int(f["sample_index"]), text, "lead_off")
        elif ev.kind == "TRIGGER":
            edge = "rising" if int(f.get("edge", 1)) else "falling"
            self._annot(int(f["sample_index"]), f"TRIGGER {edge}", "trigger")
        elif ev.kind == "BATTERY_LOW":
            self._annot(
                None, f"BATTERY_LOW {f.get('millivolts')} mV {f.get('percent')} %", "battery"
            )
        elif ev.kind == "STATE" and not f.get("streaming") and not self._stopping:
            reasons = {1: "low battery", 2: "watchdog or reboot", 3: "device error"}
            why = reasons.get(int(f.get("reason", 0)), "command")
            self._annot(int(f["next_index"]), f"STREAM stopped by the sensor: {why}", "note")
            self._warn(f"the sensor stopped streaming ({why})")
        elif ev.kind == "RESTARTED":
            self._annot(int(f["sample_index"]), "STREAM restarted after the sensor stopped", "note")
        elif ev.kind == "LOG" and int(f.get("level", 0)) >= 2:
            self._annot(None, f"DEVICE_LOG {f.get('text', '')}", "note")

    def on_link(self, state: str, detail: str) -> None:
        if self._writer is None or state == "reconnecting":  # attempts: live view only
            return
        self._append_json(
            jr.LINK,
            {
                "state": state,
                "reason": detail,
                "index": self.device.estimate_index(),
                "host_time": time.monotonic(),
            },
        )
        if state in ("lost", "gave_up"):
            self._warn(f"link {state}: {detail}")

    # -- internals --------------------------------------------------------------------------
    def _annot(self, index: int | None, text: str, kind: str) -> None:
        self.annotate(text, kind=kind, index=index)

    def _append_json(self, kind: int, obj: dict[str, Any]) -> None:
        w = self._writer
        if w is None or self.failure is not None or w.closed:
            return
        try:
            w.append_json(kind, obj)
        except StorageError as exc:
            self._fail(exc)

    def _fail(self, exc: MuwatchError) -> None:
        if self.failure is None:
            self.failure = exc
            self.failed.set()
            self._warn(str(exc))

    def _warn(self, msg: str) -> None:
        if self.on_warning is not None:
            self.on_warning(msg)
        else:
            log.warning("%s", msg)

    def _warn_and_restore(self, msg: str) -> None:
        """The journal was restored after its folder vanished: rewrite session.json too."""
        self._warn(msg)
        if self.folder is not None and self.meta is not None:
            with contextlib.suppress(StorageError):
                write_json(
                    self.folder / SUMMARY_NAME,
                    {
                        "session_id": self.session_id,
                        "status": "recording",
                        "meta": self.meta.to_dict(),
                    },
                )

    def _index_upsert(self, summary: dict[str, Any]) -> None:
        if not self.use_index or self.folder is None:
            return
        try:
            SessionIndex(self.store.index_path).upsert(summary, self.folder)
        except StorageError as exc:  # the index is a cache: never fail a recording for it
            self._warn(f"session index not updated: {exc}")

    def _stats(self) -> dict[str, Any]:
        dev = self.device
        out: dict[str, Any] = dict(dev.stats.as_dict())
        out["link"] = {k: v for k, v in dev.transport.stats.items() if isinstance(v, int)}
        fit = dev.clock.fit
        if fit is not None:
            out["clock"] = fit.as_dict()
        if self.live is not None and self.live.battery_percent is not None:
            out["battery_percent"] = self.live.battery_percent
        return out

    async def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ticker
            self._ticker = None

    async def _tick(self) -> None:
        """Flush the journal on time even when no data arrive; stats every second; battery
        and lead-off status (and the power source) every `status_interval` s."""
        last_stats = last_status = time.monotonic()
        period = max(0.02, self.flush_interval / 2)
        while True:
            await asyncio.sleep(period)
            w = self._writer
            if w is None or w.closed or self.failure is not None:
                continue
            now = time.monotonic()
            try:
                if now - last_stats >= 1.0:
                    last_stats = now
                    w.append_json(jr.STATS, self._stats())
                w.tick()
            except StorageError as exc:
                self._fail(exc)
                continue
            if now - last_status >= self.status_interval and self.device.is_connected:
                last_status = now
                with contextlib.suppress(MuwatchError):
                    st = await self.device.status()
                    if self.live is not None:
                        self.live.set_status(st)
                    self._power_source(st.usb_power)
