"""`muwatch record DEVICE --subject ID --muscle NAME --task NAME`: record a session.

Crash-safe (journal flushed every 0.25 s; `muwatch recover` finishes an interrupted one),
reconnects and backfills by itself, and writes BDF+ (and BIDS-EMG with --bids) at the end.
Keys while recording: 1-9 set marker 1-9, m sets marker 0, q stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from muwatch.cli._bridge import (
    DEVICE_HELP,
    KeyReader,
    StopSignals,
    ble_backend_option,
    data_dir_option,
    device_argument,
    fmt_duration,
    live_table,
    open_device,
    run,
    status_line,
    store_of,
    stream_config,
    stream_options,
    timeout_option,
)
from muwatch.errors import UsageError


@click.command(
    help=f"Record a session (keys: 1-9 marker, m marker, q stop; Ctrl-C stops too).\n{DEVICE_HELP}"
)
@device_argument
@click.option("--subject", required=True, help="Participant label (letters and digits).")
@click.option(
    "--muscle", required=True, help="Muscle recorded, e.g. FDI, 'abductor pollicis brevis'."
)
@click.option("--task", required=True, help="Task label (letters and digits), e.g. rest, grip.")
@click.option(
    "--duration", type=click.FloatRange(min=0.5), default=None, help="Stop after S seconds."
)
@stream_options
@click.option("--labels", default=None, metavar="A,B,..", help="Channel labels (default EMG<n>).")
@click.option(
    "--line-freq",
    type=click.Choice(["50", "60"]),
    default="50",
    show_default=True,
    help="Mains frequency where recorded (BIDS PowerLineFrequency).",
)
@click.option("--notes", default="", help="Free text kept with the session.")
@click.option("--lsl", is_flag=True, help="Also publish an LSL outlet (EMG in µV + markers).")
@click.option(
    "--bids",
    "bids_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also export to this BIDS dataset when done.",
)
@click.option(
    "--give-up-after",
    type=click.FloatRange(min=1),
    default=None,
    metavar="S",
    help="Stop reconnecting after S seconds without the sensor (default: keep trying).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the session summary as JSON at the end."
)
@data_dir_option
@ble_backend_option
@timeout_option(15.0)
def command(
    device: str,
    subject: str,
    muscle: str,
    task: str,
    duration: float | None,
    rate: str,
    channels: str,
    gain: str,
    mode: str,
    fmt: str,
    labels: str | None,
    line_freq: str,
    notes: str,
    lsl: bool,
    bids_root: Path | None,
    give_up_after: float | None,
    as_json: bool,
    data_dir: Path | None,
    ble_backend: str | None,
    timeout: float,
) -> None:
    from muwatch.session.meta import check_label

    check_label("subject", subject)
    check_label("task", task)
    config = stream_config(rate, channels, gain, mode, fmt)
    label_list = [s.strip() for s in labels.split(",")] if labels else None
    if label_list is not None and (len(label_list) != config.n_channels or not all(label_list)):
        raise UsageError(f"--labels needs {config.n_channels} non-empty names, got {labels!r}")
    summary = run(
        _record(
            device,
            dict(
                subject=subject,
                muscle=muscle,
                task=task,
                channel_labels=label_list,
                power_line_hz=float(line_freq),
                notes=notes,
                lsl=lsl,
            ),
            config,
            duration,
            give_up_after,
            data_dir,
            ble_backend,
            timeout,
            as_json,
        )
    )
    if bids_root is not None:
        from muwatch.session import export_bids

        store = store_of(data_dir)
        out = export_bids(store.resolve(summary["session_id"]), bids_root)
        click.echo(f"BIDS: {out['bdf']}", err=as_json)
    if as_json:
        click.echo(json.dumps({k: v for k, v in summary.items() if k != "meta"}, indent=2))


def _say(msg: str) -> None:
    click.echo(msg, err=True)


async def _record(
    spec: str,
    rec_kw: dict[str, Any],
    config: Any,
    duration: float | None,
    give_up_after: float | None,
    data_dir: Path | None,
    ble_backend: str | None,
    timeout: float,
    quiet: bool,
) -> dict[str, Any]:
    from muwatch.session.recorder import Recorder

    store = store_of(data_dir)
    store.ensure()
    dev = await open_device(
        spec, ble_backend=ble_backend, timeout=timeout, reconnect_timeout=give_up_after
    )
    stops = StopSignals()
    keys = KeyReader()
    warnings: list[str] = []

    def warn(msg: str) -> None:
        warnings.append(msg)
        _say(f"muwatch: warning: {msg}")

    rec = Recorder(dev, store, on_warning=warn, **rec_kw)
    try:
        sid = await rec.start(config)
        assert rec.folder is not None and rec.meta is not None and rec.live is not None
        live = rec.live
        _say(f"recording {sid} in {rec.folder}")
        _say(f"started at {time.time():.3f} (unix time); keys: 1-9 marker, m marker, q stop")
        t0 = time.monotonic()
        labels = rec.meta.channel_labels
        title = f"{sid}: {rec.meta.subject} {rec.meta.muscle} {rec.meta.task}"
        tty = sys.stdout.isatty() and not quiet
        last_line = 0.0
        from rich.live import Live

        ctx = (
            Live(live_table(live.snapshot(dev), labels, title), refresh_per_second=4)
            if tty
            else contextlib.nullcontext()
        )
        with ctx as view:
            while not stops.event.is_set() and not rec.failed.is_set():
                if duration is not None and time.monotonic() - t0 >= duration:
                    break
                if dev.link_state == "gave_up":
                    warn("the sensor stayed unreachable; stopping")
                    break
                key = None
                with contextlib.suppress(TimeoutError):
                    key = await asyncio.wait_for(keys.queue.get(), 0.2)
                if key in ("q", "Q"):
                    break
                if key is not None and (key.isdigit() and key != "0" or key in ("m", "M")):
                    code = int(key) if key.isdigit() else 0
                    idx = await rec.marker(code, f"key {key}")
                    if view is None:
                        _say(f"marker {code} at sample {idx}")
                snap = live.snapshot(dev)
                if view is not None:
                    view.update(live_table(snap, labels, title))
                elif time.monotonic() - last_line >= 2.0:
                    last_line = time.monotonic()
                    _say(status_line(snap))
        if rec.failed.is_set():
            await rec.stop()  # raises the StorageError that stopped the recording
        _say("stopping: waiting for the sensor to send what is missing...")
        summary = await rec.stop()
    except BaseException:
        if not rec._stopping and rec.folder is not None:
            with contextlib.suppress(Exception):
                await rec.abort("interrupted")
            _say(
                f"the recording was interrupted; finish it with `muwatch recover {rec.session_id}`"
            )
        raise
    finally:
        keys.close()
        stops.close()
        await dev.close()
    _report(summary, quiet)
    return summary


def _report(summary: dict[str, Any], quiet: bool) -> None:
    clock = summary.get("clock") or {}
    lines = [
        f"session {summary['session_id']}: {summary['status']}, {summary['n_samples']} samples "
        f"({fmt_duration(summary['duration_s'])}) at {summary['sample_rate']:g} Hz",
        f"  lost {summary['lost_samples']} samples in {len(summary['gaps'])} gap(s); "
        f"backfilled {summary.get('backfilled_samples', 0)}",
    ]
    for g in summary["gaps"][:10]:
        lines.append(
            f"    gap at sample {g['first']} ({g['onset_s']:.3f} s), {g['count']} samples: {g['cause']}"
        )
    if clock:
        lines.append(
            f"  device clock drift {clock['drift_ppm']:+.1f} ppm, residual {clock['residual_us'] / 1000:.2f} ms, "
            f"arrival jitter {clock['jitter_us'] / 1000:.2f} ms"
        )
    if summary.get("files", {}).get("bdf"):
        lines.append(f"  file: {summary['files']['bdf']}")
    for line in lines:
        click.echo(line, err=quiet)
