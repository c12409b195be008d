"""`muwatch pair DEVICE`: pair and bond with a sensor over BLE (LE Secure Connections)."""

from __future__ import annotations

import click

from muwatch.cli._bridge import (
    DEVICE_HELP,
    ble_backend_option,
    device_argument,
    run,
    timeout_option,
)
from muwatch.errors import DeviceError


@click.command(
    help=f"Pair and bond once; later connections are encrypted automatically.\n{DEVICE_HELP}"
)
@device_argument
@ble_backend_option
@timeout_option(20.0)
def command(device: str, ble_backend: str | None, timeout: float) -> None:
    run(_pair(device, ble_backend, timeout))


async def _pair(spec: str, ble_backend: str | None, timeout: float) -> None:
    from muwatch.cli._bridge import cli_transport
    from muwatch.device import Device
    from muwatch.transports.ble import BleTransport

    transport = cli_transport(spec, ble_backend=ble_backend)
    if not isinstance(transport, BleTransport):
        click.echo(f"{spec} is not a BLE device: serial and simulated links need no pairing")
        return
    dev = Device(transport, connect_timeout=timeout, auto_reconnect=False)
    try:
        await transport.open(timeout=timeout)
        await transport.pair()
        await dev.open()  # the link is up: GET_INFO works before and after pairing
        st = await dev.status()
    finally:
        await dev.close()
    if not st.encrypted:
        raise DeviceError(f"{spec}: pairing finished but the link is not encrypted; try again")
    info = dev.device_info
    assert info is not None
    click.echo(f"paired with {info.device_name} (serial {info.serial_number}); bonded: {st.bonded}")
