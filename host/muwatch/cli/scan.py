"""`muwatch scan`: find advertising muwatch sensors (BLE): name, address, RSSI."""

from __future__ import annotations

import json

import click

from muwatch.cli._bridge import ble_backend_option, run
from muwatch.errors import DeviceError


@click.command()
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.5),
    default=5.0,
    show_default=True,
    help="Seconds to listen.",
)
@click.option(
    "--all", "all_devices", is_flag=True, help="List every BLE device, not only muwatch sensors."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@ble_backend_option
def command(timeout: float, all_devices: bool, as_json: bool, ble_backend: str | None) -> None:
    """List muwatch sensors in range (BLE), strongest signal first.

    Exits with code 3 when none is found."""
    found = run(_scan(timeout, all_devices, as_json, ble_backend))
    if as_json:
        click.echo(
            json.dumps([{"name": n, "address": a, "rssi": r} for n, a, r in found], indent=2)
        )
        return
    if not found:
        raise DeviceError(
            f"no muwatch sensor found in {timeout:g} s: is it switched on and not connected "
            "to another host? (--timeout to listen longer)"
        )
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("name")
    table.add_column("address")
    table.add_column("RSSI dBm", justify="right")
    for name, address, rssi in found:
        table.add_row(name or "?", address, "-" if rssi is None else str(rssi))
    Console().print(table)


async def _scan(timeout: float, all_devices: bool, quiet: bool, ble_backend: str | None) -> list:
    from muwatch.transports.ble import scan

    if quiet:
        return await scan(timeout, backend=ble_backend, all_devices=all_devices)
    from rich.console import Console

    with Console(stderr=True).status(f"scanning for {timeout:g} s..."):
        return await scan(timeout, backend=ble_backend, all_devices=all_devices)
