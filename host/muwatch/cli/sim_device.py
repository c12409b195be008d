"""`muwatch sim-device`: the simulated sensor (MicroPython unix port + simulated board)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click

from muwatch.errors import UsageError


@click.command()
@click.option(
    "--serial", "serial_", is_flag=True, help="Serve a pseudo-terminal (prints its path)."
)
@click.option(
    "--socket",
    "socket_port",
    type=int,
    default=None,
    metavar="PORT",
    help="Serve TCP on 127.0.0.1:PORT (0 = any free port; prints socket://...).",
)
@click.option(
    "--signal",
    "signal_stem",
    type=click.Path(path_type=Path),
    default=None,
    help="Signal-source stem (<stem>.i32 + <stem>.json) the ADS1299 model plays, looped.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder acting as the device's flash (config, bond keys, deployed files). "
    "Default: a temporary folder.",
)
@click.option(
    "--scenario",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="JSON list of timed actions: battery_mv, lead_off, trigger, stall_ms.",
)
@click.option("--battery-mv", type=click.IntRange(2500, 4500), default=3950, show_default=True)
@click.option(
    "--max-lag-ms",
    type=click.IntRange(1, 5000),
    default=500,
    show_default=True,
    help="How late the simulated DRDY interrupt may be served before conversions are lost.",
)
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
@click.option(
    "--ble",
    is_flag=True,
    help="Also start the simulated radio: prints the --ble-backend value (bumble:tcp-client:...) "
    "hosts connect with; the sensor advertises as muw-XXXX.",
)
def command(
    serial_: bool,
    socket_port: int | None,
    signal_stem: Path | None,
    root: Path | None,
    scenario: Path | None,
    battery_mv: int,
    max_lag_ms: int,
    duration: float | None,
    ble: bool,
) -> None:
    """Run the firmware (main.py, unchanged) on the simulated XIAO ESP32S3 + ADS1299.

    The MicroPython unix port runs with its heap limited to the ring buffer plus what an
    ESP32-S3 without PSRAM offers; its stdio (the USB-CDC of the real board: the protocol,
    or the REPL after ENTER_REPL) is bridged to a pty or a TCP socket. Stop with Ctrl-C.
    """
    from muwatch.sim.device import SimDevice, SimDeviceConfig

    if serial_ and socket_port is not None or not (serial_ or socket_port is not None or ble):
        raise UsageError("choose one of --serial or --socket PORT (and/or --ble)")
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    cfg = SimDeviceConfig(
        root=root,
        signal=signal_stem,
        scenario=scenario,
        battery_mv=battery_mv,
        max_lag_ms=max_lag_ms,
    )
    radio = None
    if ble:  # the BLE area's radio process (muwatch.sim.radio_twin)
        from muwatch.sim.radio_twin import RadioProcess, address_from_uid

        radio = RadioProcess(address_from_uid(cfg.uid))
        endpoints = radio.start()
        cfg.extra_env["MUWATCH_RADIO"] = endpoints["firmware"]
        cfg.bluetooth = True
    try:
        dev = SimDevice(cfg)
    except BaseException:
        if radio is not None:
            radio.stop()
        raise
    try:
        endpoint = dev.serve_pty() if serial_ else dev.serve_socket(socket_port or 0)
        if radio is not None:
            click.echo(f"bumble:{radio.endpoints['hci']}", nl=True)
            name = "muw-" + cfg.uid.upper()[-4:]
            click.echo(
                f"ble: {name} ({radio.endpoints['address']}), radio control "
                f"{radio.endpoints['control']}",
                err=True,
            )
        if serial_ or socket_port is not None:
            click.echo(endpoint, nl=True)
        click.echo(f"flash root: {dev.root}", err=True)
        stop = {"now": False}

        def _stop(*_: object) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        t_end = None if duration is None else time.monotonic() + duration
        while not stop["now"] and not dev.stopped():
            if t_end is not None and time.monotonic() >= t_end:
                break
            time.sleep(0.1)
        if dev.log:
            for line in dev.log:
                click.echo(f"sim-device: {line}", err=True)
    finally:
        dev.close()
        if radio is not None:
            radio.stop()
