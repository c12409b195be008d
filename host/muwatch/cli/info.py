"""`muwatch info DEVICE`: what the sensor is and how it is doing (GET_INFO, GET_STATUS, PING)."""

from __future__ import annotations

import json

import click

from muwatch.cli._bridge import (
    DEVICE_HELP,
    ble_backend_option,
    device_argument,
    open_device,
    run,
    timeout_option,
)


@click.command(
    help=f"Show firmware, board, serial number, configuration, battery and link.\n{DEVICE_HELP}"
)
@device_argument
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@ble_backend_option
@timeout_option(10.0)
def command(device: str, as_json: bool, ble_backend: str | None, timeout: float) -> None:
    run(_info(device, as_json, ble_backend, timeout))


async def _info(spec: str, as_json: bool, ble_backend: str | None, timeout: float) -> None:
    from muwatch.protocol.constants import Status
    from muwatch.protocol.errors import RequestFailed

    dev = await open_device(spec, ble_backend=ble_backend, timeout=timeout)
    try:
        info = dev.device_info
        rtts = []
        for _ in range(5):
            rtt, _t = await dev.ping()
            rtts.append(rtt * 1000)
        try:
            st = await dev.status()
        except RequestFailed as exc:
            if exc.status != Status.NOT_PAIRED:
                raise
            st = None
    finally:
        await dev.close()
    if st is None:
        facts = {
            "link": dev.transport.description,
            "name": info.device_name,
            "serial": info.serial_number,
            "board": info.board,
            "firmware": info.firmware_version,
            "protocol_version": info.protocol_version,
            "paired": False,
        }
        if as_json:
            click.echo(json.dumps(facts, indent=2))
        else:
            click.echo(f"{info.device_name}  serial {info.serial_number}  ({facts['link']})")
            click.echo(f"  board {info.board}, firmware {info.firmware_version}")
            click.echo(f"  not paired: run `muwatch pair {spec}` to see status and stream")
        return
    cfg = st.config
    out = {
        "link": dev.transport.description,
        "name": info.device_name,
        "serial": info.serial_number,
        "board": info.board,
        "firmware": info.firmware_version,
        "protocol_version": info.protocol_version,
        "max_channels": info.max_channels,
        "rates_hz": list(info.rates_hz),
        "vref_v": info.vref_volts,
        "ring_capacity_samples": info.ring_capacity,
        "samples_per_frame": info.samples_per_frame,
        "streaming": bool(st.streaming),
        "battery_percent": st.battery_percent,
        "battery_mv": st.battery_mv,
        "power": "usb" if st.usb_power else "battery",
        "lead_off_p": st.loff_p,
        "lead_off_n": st.loff_n,
        "encrypted": st.encrypted,
        "bonded": st.bonded,
        "bad_requests": st.bad_requests,
        "config": {
            "rate_hz": cfg.rate_hz,
            "channels": list(cfg.channels),
            "gain": cfg.gain,
            "mode": cfg.mode_name,
            "format_bits": int(cfg.fmt),
        },
        "ping_ms": {"min": min(rtts), "median": sorted(rtts)[len(rtts) // 2], "max": max(rtts)},
    }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    ring_s = info.ring_capacity / cfg.rate_hz
    click.echo(f"{info.device_name}  serial {info.serial_number}  ({out['link']})")
    click.echo(
        f"  board {info.board}, firmware {info.firmware_version}, protocol v{info.protocol_version}"
    )
    click.echo(
        f"  {info.max_channels} channels, rates {', '.join(str(r) for r in info.rates_hz)} Hz, "
        f"Vref {info.vref_volts:g} V, buffer {info.ring_capacity} samples ({ring_s:.1f} s)"
    )
    click.echo(
        f"  configured: {cfg.rate_hz} Hz, channels {','.join(map(str, cfg.channels))}, "
        f"gain {cfg.gain}, {cfg.mode_name}, {int(cfg.fmt)}-bit"
    )
    off = [
        f"{c}{'+' if st.loff_p >> (c - 1) & 1 else ''}{'-' if st.loff_n >> (c - 1) & 1 else ''}"
        for c in cfg.channels
        if (st.loff_p | st.loff_n) >> (c - 1) & 1
    ]
    click.echo(
        f"  streaming: {'yes' if st.streaming else 'no'}; lead-off: {', '.join(off) or 'none'}"
    )
    click.echo(
        f"  battery {st.battery_percent} % ({st.battery_mv} mV); link encrypted {st.encrypted}, bonded {st.bonded}"
    )
    if st.usb_power:
        from muwatch.session.recorder import USB_POWER_WARNING

        click.echo(f"  power: USB ({USB_POWER_WARNING})")
    else:
        click.echo("  power: battery")
    click.echo(
        f"  command round trip {out['ping_ms']['median']:.1f} ms (min {out['ping_ms']['min']:.1f}, max {out['ping_ms']['max']:.1f})"
    )
