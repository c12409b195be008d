"""`muwatch stream DEVICE`: live view (per-channel RMS and lead-off, loss, link rate, battery,
device clock drift) without recording; optionally an LSL outlet."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import TYPE_CHECKING

import click

from muwatch.cli._bridge import (
    DEVICE_HELP,
    KeyReader,
    StopSignals,
    ble_backend_option,
    device_argument,
    live_table,
    open_device,
    run,
    status_line,
    stream_config,
    stream_options,
    timeout_option,
)

if TYPE_CHECKING:
    from muwatch.device import Device, SampleBlock, StreamConfig
    from muwatch.lsl import LslOutlet


@click.command(help=f"Stream and show live figures; q or Ctrl-C quits.\n{DEVICE_HELP}")
@device_argument
@stream_options
@click.option(
    "--duration", type=click.FloatRange(min=0.1), default=None, help="Stop after S seconds."
)
@click.option("--lsl", is_flag=True, help="Publish an LSL outlet (EMG in µV + markers).")
@ble_backend_option
@timeout_option(10.0)
def command(
    device: str,
    rate: str,
    channels: str,
    gain: str,
    mode: str,
    fmt: str,
    duration: float | None,
    lsl: bool,
    ble_backend: str | None,
    timeout: float,
) -> None:
    config = stream_config(rate, channels, gain, mode, fmt)
    run(_stream(device, config, duration, lsl, ble_backend, timeout))


class _LslPush:
    """Live blocks to the LSL outlet, stamped through the device clock map."""

    def __init__(self, dev: Device, outlet: LslOutlet) -> None:
        self.dev, self.outlet = dev, outlet

    def on_samples(self, block: SampleBlock) -> None:
        if not block.live or self.dev.config is None:
            return
        fit = self.dev.clock.fit
        newest = block.device_time_us + (block.n - 1) * 1e6 / self.dev.config.rate_hz
        self.outlet.push(block.codes, fit.to_host(newest) if fit else block.host_time)


async def _stream(
    spec: str,
    config: StreamConfig,
    duration: float | None,
    lsl: bool,
    ble_backend: str | None,
    timeout: float,
) -> None:
    from muwatch.session.live import LiveStats
    from muwatch.session.meta import uv_per_code

    dev = await open_device(spec, ble_backend=ble_backend, timeout=timeout)
    stops = StopSignals()
    keys = KeyReader()
    outlet = None
    try:
        applied = await dev.configure(config)
        info = dev.device_info
        uv = uv_per_code(info.vref_volts, applied.gain)
        live = LiveStats(list(applied.channels), applied.rate_hz, uv)
        dev.add_listener(live)
        labels = [f"EMG{c}" for c in applied.channels]
        if lsl:
            from muwatch.lsl import LslOutlet

            outlet = LslOutlet(
                serial=info.serial_number,
                channel_labels=labels,
                sample_rate=applied.rate_hz,
                uv_per_code=uv,
                model=info.board,
                firmware=info.firmware_version,
            )
            dev.add_listener(_LslPush(dev, outlet))
        await dev.start_stream()
        t0 = time.monotonic()
        title = f"{info.device_name} {applied.rate_hz} Hz ({dev.transport.description})"
        tty = sys.stdout.isatty()
        last_line = 0.0
        last_status = t0
        from rich.live import Live

        with (
            Live(
                live_table(live.snapshot(dev), labels, title), refresh_per_second=4, transient=False
            )
            if tty
            else contextlib.nullcontext() as view
        ):
            while not stops.event.is_set():
                if duration is not None and time.monotonic() - t0 >= duration:
                    break
                with contextlib.suppress(TimeoutError):
                    key = await asyncio.wait_for(keys.queue.get(), 0.25)
                    if key in ("q", "Q"):
                        break
                snap = live.snapshot(dev)
                now = time.monotonic()
                if now - last_status >= 5.0 and dev.is_connected:
                    last_status = now
                    with contextlib.suppress(Exception):
                        live.set_status(await dev.status())
                if view is not None:
                    view.update(live_table(snap, labels, title))
                elif now - last_line >= 1.0:
                    last_line = now
                    click.echo(status_line(snap), err=True)
        result = await dev.stop_stream(drain_timeout=2.0)
        snap = live.snapshot(dev)
        click.echo(
            f"streamed {result.next_index} samples ({snap.seconds:.1f} s); lost {sum(r.count for r in dev.tracker.lost)}, "
            f"backfilled {dev.stats.backfilled_samples}"
        )
    finally:
        keys.close()
        stops.close()
        if outlet is not None:
            outlet.close()
        await dev.close()
