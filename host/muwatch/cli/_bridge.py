"""Options and helpers shared by the host-bridge commands (scan, pair, info, stream, record,
sessions, export, recover). Not a command itself (leading underscore)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from muwatch.session.store import ENV_DATA_DIR, SessionStore

F = TypeVar("F", bound=Callable[..., Any])


def data_dir_option(f: F) -> F:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=ENV_DATA_DIR,
        default=None,
        help=f"Folder holding sessions and the index (default: the user data folder; env {ENV_DATA_DIR}).",
    )(f)


def ble_backend_option(f: F) -> F:
    return click.option(
        "--ble-backend",
        metavar="SPEC",
        default=None,
        envvar="MUWATCH_BLE_BACKEND",
        help="BLE stack for bleak: the OS stack by default, or bumble:TRANSPORT "
        "(e.g. bumble:tcp-client:127.0.0.1:PORT for the simulated radio, bumble:usb:0 for a dongle).",
    )(f)


def timeout_option(default: float) -> Callable[[F], F]:
    def deco(f: F) -> F:
        return click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=default,
            show_default=True,
            help="Seconds to wait for the device to connect and answer.",
        )(f)

    return deco


def device_argument(f: F) -> F:
    return click.argument("device", metavar="DEVICE")(f)


DEVICE_HELP = """
DEVICE is one of: a BLE name (muw-1A2B) or address, ble:NAME|ADDRESS, a serial port
(/dev/ttyACM0, COM3, serial:/dev/ttyACM0), a pyserial URL (socket://host:port), or
sim[:SOURCE] to start the simulated sensor (optionally playing a signal-source file).
"""


def store_of(data_dir: Path | None) -> SessionStore:
    return SessionStore(data_dir)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# -- running the asyncio parts of a command --------------------------------------------------


def run(coro: Any) -> Any:
    """Run a command's coroutine; Ctrl-C is handled inside (commands stop cleanly)."""
    import asyncio

    return asyncio.run(coro)


async def open_device(
    spec: str,
    *,
    ble_backend: str | None,
    timeout: float,
    reconnect_timeout: float | None = None,
    ble_pair: bool = False,
) -> Any:
    """Connect to DEVICE and read GET_INFO; DeviceError/TransportError say why not."""
    transport = cli_transport(spec, ble_backend=ble_backend, ble_pair=ble_pair)
    from muwatch.device import Device

    dev = Device(
        transport,
        connect_timeout=timeout,
        request_timeout=min(timeout, 5.0),
        reconnect_timeout=reconnect_timeout,
    )
    try:
        await dev.open()
    except BaseException:
        await dev.close()
        raise
    return dev


def cli_transport(spec: str, *, ble_backend: str | None, ble_pair: bool = False) -> Any:
    """The transport for DEVICE; a bumble backend keeps bonds in default_bond_path() so that
    `muwatch pair` in one process serves `muwatch record` in the next."""
    from muwatch.transports import transport_for

    bonds = None
    if ble_backend and ble_backend.strip().startswith("bumble:"):
        from muwatch.transports.ble import default_bond_path

        bonds = default_bond_path()
    return transport_for(spec, ble_backend=ble_backend, ble_pair=ble_pair, bond_store=bonds)


class StopSignals:
    """SIGINT/SIGTERM set an event instead of killing the loop, so commands stop cleanly."""

    def __init__(self) -> None:
        import asyncio
        import signal

        self.event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._sigs = [signal.SIGINT, signal.SIGTERM]
        for sig in self._sigs:
            try:
                self._loop.add_signal_handler(sig, self.event.set)
            except (NotImplementedError, RuntimeError):  # not the main thread / Windows
                pass

    def close(self) -> None:
        for sig in self._sigs:
            try:
                self._loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass


class KeyReader:
    """Single keypresses from a terminal (cbreak mode), delivered to an asyncio queue.

    Does nothing when stdin is not a terminal (scripts, tests)."""

    def __init__(self) -> None:
        import asyncio
        import sys

        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._fd = -1
        self._saved: Any = None
        try:
            if sys.stdin.isatty():
                import termios
                import tty

                self._fd = sys.stdin.fileno()
                self._saved = termios.tcgetattr(self._fd)
                tty.setcbreak(self._fd)
                asyncio.get_running_loop().add_reader(self._fd, self._read)
        except (OSError, ValueError, ImportError):
            self._fd = -1

    @property
    def active(self) -> bool:
        return self._fd >= 0

    def _read(self) -> None:
        import os

        try:
            data = os.read(self._fd, 32)
        except OSError:
            return
        for ch in data.decode(errors="ignore"):
            self.queue.put_nowait(ch)

    def close(self) -> None:
        if self._fd >= 0:
            import asyncio
            import termios

            try:
                asyncio.get_running_loop().remove_reader(self._fd)
            except RuntimeError:
                pass
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._fd = -1


def live_table(snap: Any, labels: list[str], title: str) -> Any:
    """A rich renderable of a LiveSnapshot."""
    from rich.table import Table

    t = Table(title=title, box=None, header_style="bold", title_justify="left")
    t.add_column("channel")
    t.add_column("RMS µV", justify="right")
    t.add_column("lead-off")
    for label, rms, off in zip(labels, snap.rms_uv, snap.lead_off, strict=False):
        t.add_row(label, f"{rms:9.2f}", f"[red]{off} off[/red]" if off else "ok")
    t.caption = status_line(snap)
    return t


def status_line(snap: Any) -> str:
    drift = f"{snap.drift_ppm:+.1f} ppm" if snap.drift_ppm is not None else "-"
    jitter = f"{snap.jitter_ms:.1f} ms" if snap.jitter_ms is not None else "-"
    battery = f"{snap.battery_percent} %" if snap.battery_percent is not None else "-"
    return (
        f"link {snap.link} | {fmt_duration(snap.seconds)} | {snap.rate_hz:.0f} S/s | "
        f"lost {snap.lost} | backfilled {snap.backfilled} | battery {battery} | "
        f"clock drift {drift}, jitter {jitter}"
    )


def stream_options(f: F) -> F:
    """--rate/--channels/--gain/--mode/--format for commands that start a stream."""
    f = click.option(
        "--format",
        "fmt",
        type=click.Choice(["24", "16"]),
        default="24",
        show_default=True,
        help="Sample format on the link (bits).",
    )(f)
    f = click.option(
        "--mode",
        type=click.Choice(["normal", "test_signal", "lead_off_check", "shorted"]),
        default="normal",
        show_default=True,
        help="Front-end input: electrodes, internal test signal, lead-off check, shorted inputs.",
    )(f)
    f = click.option(
        "--gain",
        type=click.Choice(["1", "2", "4", "6", "8", "12", "24"]),
        default="24",
        show_default=True,
        help="ADS1299 PGA gain.",
    )(f)
    f = click.option(
        "--channels",
        default="1-8",
        show_default=True,
        metavar="LIST",
        help="Channels, e.g. 1,2 or 1-4.",
    )(f)
    f = click.option(
        "--rate",
        type=click.Choice(["250", "500", "1000", "2000", "4000", "8000", "16000"]),
        default="2000",
        show_default=True,
        help="Samples per second.",
    )(f)
    return f


def parse_channels(text: str) -> tuple[int, ...]:
    from muwatch.errors import UsageError

    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                a, b = part.split("-", 1)
                out.extend(range(int(a), int(b) + 1))
            elif part:
                out.append(int(part))
    except ValueError:
        raise UsageError(f"--channels {text!r}: use numbers 1-8, e.g. 1,2 or 1-4") from None
    if not out or any(not 1 <= c <= 8 for c in out) or len(set(out)) != len(out):
        raise UsageError(f"--channels {text!r}: channels are 1..8, each at most once")
    return tuple(sorted(out))


def stream_config(rate: str, channels: str, gain: str, mode: str, fmt: str) -> Any:
    from muwatch.device import StreamConfig

    return StreamConfig(
        rate_hz=int(rate),
        channels=parse_channels(channels),
        gain=int(gain),
        mode=mode,
        fmt=int(fmt),
    )
