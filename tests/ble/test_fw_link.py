"""The firmware's BLE link (firmware/muwatch_fw/link/ble.py) inside MicroPython, on the shim and
the radio, seen by a bleak host: GATT table and advertising per docs/protocol.md section 6,
MTU, the pairing gate, heap-locked pacing without loss, bond keys in flash, re-advertising."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bleak import BleakClient, BleakScanner
from conftest import run
from muwatch.ble import BondStore, BumbleClient, BumbleScanner
from muwatch.ble._adv import parse_ad_structures
from muwatch.protocol import (
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    EVENTS_CHAR_UUID,
    INFO_CHAR_UUID,
    SERVICE_UUID,
    build_ping,
)
from muwatch.sim.radio import Radio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mpy import micropython_binary, micropython_env  # noqa: E402

DIS = {
    "00002a29-0000-1000-8000-00805f9b34fb": "muwatch",
    "00002a24-0000-1000-8000-00805f9b34fb": "probe-board",
    "00002a25-0000-1000-8000-00805f9b34fb": "00112233PRB1",
    "00002a26-0000-1000-8000-00805f9b34fb": "9.9.9",
    "00002a27-0000-1000-8000-00805f9b34fb": "B",
}
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"


def test_advertising_payload_and_bond_store_in_micropython(micropython, monkeypatch, tmp_path):
    monkeypatch.setenv("MUWATCH_RADIO", "tcp:127.0.0.1:1")  # importable; never connected here
    out = micropython.run(
        f"""
        import bluetooth
        from muwatch_fw.link.ble import advertising_payload, BondStore
        u = bluetooth.UUID("{SERVICE_UUID}")
        print("short", advertising_payload("muw-E5F6", u).hex())
        print("long", advertising_payload("muwatch-left-forearm", u).hex())
        path = "{tmp_path}/bonds.json"
        b = BondStore(path)
        print("empty", b.get(2, 0, None))
        b.set(2, b"peer-a", b"keys-a")
        b.set(2, b"peer-b", b"keys-b")
        b.set(1, b"ours", b"x")
        b2 = BondStore(path)
        print("reload", b2.get(2, 0, None), b2.get(2, 1, None), b2.get(2, 2, None), b2.get(2, 0, b"peer-b"))
        b2.set(2, b"peer-a", None)
        print("deleted", BondStore(path).get(2, 0, None))
        with open(path, "w") as f:
            f.write("{{not json")
        b3 = BondStore(path)
        print("corrupt", b3.entries, b3.problem is not None)
        """
    )
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    short = bytes.fromhex(lines["short"])
    assert len(short) == 31
    structures = parse_ad_structures(short)
    assert structures[0] == (0x01, b"\x06")
    assert structures[1][0] == 0x07 and len(structures[1][1]) == 16
    assert structures[2] == (0x09, b"muw-E5F6")
    long = parse_ad_structures(bytes.fromhex(lines["long"]))
    assert long[2][0] == 0x08 and b"muwatch-left-forearm".startswith(long[2][1])
    assert sum(len(v) + 2 for _, v in long) <= 31
    assert lines["empty"] == "None"
    assert lines["reload"] == "b'keys-a' b'keys-b' None b'keys-b'"
    assert lines["deleted"] == "b'keys-b'"
    assert lines["corrupt"] == "[] True"


def test_ble_link_gatt_table_pairing_gate_and_heap_locked_pacing(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()

    async def main():
        radio = Radio(address="A1:B2:C3:D4:E5:F6", tx_buffers=6)
        endpoints = await radio.start()
        env = micropython_env()
        env["MUWATCH_RADIO"] = endpoints["firmware"]
        proc = await asyncio.create_subprocess_exec(
            micropython_binary(),
            "-X",
            "heapsize=512k",
            str(HERE / "mp" / "link_probe.py"),
            str(flash),
            env=env,
            cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            found = await BleakScanner.discover(
                timeout=3.0, return_adv=True, backend=BumbleScanner, transport=endpoints["hci"]
            )
            device, adv = found["A1:B2:C3:D4:E5:F6"]
            client = BleakClient(
                device, backend=BumbleClient, transport=endpoints["hci"], bond_store=BondStore()
            )
            await client.connect()
            table = {
                s.uuid: {c.uuid: sorted(c.properties) for c in s.characteristics}
                for s in client.services
            }
            dis = {u: bytes(await client.read_gatt_char(u)).decode() for u in DIS}
            battery = bytes(await client.read_gatt_char(BATTERY_LEVEL))
            info = bytes(await client.read_gatt_char(INFO_CHAR_UUID))
            got: list[bytes] = []
            responses: list[bytes] = []
            await client.start_notify(DATA_CHAR_UUID, lambda _c, v: got.append(bytes(v)))
            await client.start_notify(CONTROL_CHAR_UUID, lambda _c, v: responses.append(bytes(v)))
            await client.write_gatt_char(CONTROL_CHAR_UUID, build_ping().encode(7), response=True)
            await asyncio.sleep(0.5)
            before_pairing = len(got)
            await client.pair()
            end = asyncio.get_running_loop().time() + 60
            while len(got) < 200 and asyncio.get_running_loop().time() < end:
                await asyncio.sleep(0.05)
            await client.disconnect()
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            return (
                adv,
                table,
                dis,
                battery,
                info,
                responses,
                before_pairing,
                got,
                out.decode(),
                err.decode(),
                radio.stats,
            )
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await radio.stop()

    adv, table, dis, battery, info, responses, before, got, out, err, stats = run(
        main(), timeout=120
    )
    assert "FLUSHED" in out, f"stdout:\n{out}\nstderr:\n{err}"
    assert adv.local_name == "muw-PRB1" and adv.service_uuids == [SERVICE_UUID]
    assert table[SERVICE_UUID] == {
        DATA_CHAR_UUID: ["notify"],
        CONTROL_CHAR_UUID: ["notify", "write", "write-without-response"],
        EVENTS_CHAR_UUID: ["indicate", "notify"],
        INFO_CHAR_UUID: ["read"],
    }
    assert table["0000180f-0000-1000-8000-00805f9b34fb"] == {BATTERY_LEVEL: ["notify", "read"]}
    assert dis == DIS
    assert battery == bytes([64])
    assert info == bytes([244])  # the Info value was rewritten after the MTU exchange
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert lines["CONNECTED"] == "budget 244"
    assert lines["REQ"] == "8 secure 0"  # a PING (8 bytes) before pairing: not secure
    assert len(responses) == 1 and responses[0][2:4] == b"\x07\x00"
    assert before == 0, "data was sent before the link was encrypted"
    assert [len(v) for v in got] == [234] * 200
    assert [v[0] for v in got] == [k & 0xFF for k in range(200)], "frames lost or reordered"
    flushed = lines["FLUSHED"].split()
    assert flushed[0] == "200" and int(flushed[4]) > 0, "no back-pressure was exercised"
    assert stats.max_outstanding <= 6
    assert lines["ADVERTISING"].startswith("1 up 1 down 1")
    bonds = json.loads((flash / "bonds.json").read_text())
    assert bonds and all(entry[0] == 2 for entry in bonds)
