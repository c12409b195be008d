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
