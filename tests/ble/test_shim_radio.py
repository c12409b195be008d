"""The `bluetooth` shim (firmware/sim/bluetooth.py, inside the real MicroPython unix port) and
the radio process that mirrors it (muwatch.sim.radio), seen from bleak over the radio's HCI.

What must hold for the twin to be worth testing against: same IRQ codes, flags and errnos as
MicroPython's `bluetooth`; ENOMEM back-pressure from gatts_notify that loses and reorders
nothing; an allocation-free notify; 20-byte value buffers; bond keys kept by the firmware."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError
from conftest import run
from muwatch.ble import BondStore, BumbleClient, BumbleScanner
from muwatch.sim import radio_wire as w
from muwatch.sim.radio import Radio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHIM = ROOT / "firmware" / "sim" / "bluetooth.py"
sys.path.insert(0, str(ROOT / "tests"))

from mpy import micropython_binary, micropython_env  # noqa: E402

DATA = "6d770002-1762-447b-83a3-96d065c9e115"
CMD = "6d770003-1762-447b-83a3-96d065c9e115"
SMALL = "6d7700e1-1762-447b-83a3-96d065c9e115"
PROT = "6d7700e2-1762-447b-83a3-96d065c9e115"
IND = "6d7700e3-1762-447b-83a3-96d065c9e115"


def _shim_consts() -> dict[str, int]:
    text = SHIM.read_text()
    return {
        m[1]: int(m[2], 0)
        for m in re.finditer(r"^(_?[A-Z0-9_]+) = const\((0x[0-9A-Fa-f]+|\d+)\)", text, re.M)
    }


def test_wire_protocol_numbers_agree_between_shim_and_radio():
    consts = _shim_consts()
    for name in (
        "HELLO REGISTER ADVERTISE GATTS_WRITE NOTIFY INDICATE DISCONNECT EXCHANGE_MTU CONFIG "
        "PAIR SECRET_REPLY SET_BUFFER REPLY CONNECT WRITE MTU CREDITS INDICATE_DONE ENCRYPTION "
        "GET_SECRET SET_SECRET CONN_UPDATE VERSION"
    ).split():
        assert consts["_" + name] == getattr(w, name), name
    assert consts["_DISCONNECTED"] == w.DISCONNECTED


def test_irq_codes_flags_and_errnos_are_micropythons():
    # docs/library/bluetooth.rst (MicroPython) and uerrno
    consts = _shim_consts()
    documented = {
        "_IRQ_CENTRAL_CONNECT": 1,
        "_IRQ_CENTRAL_DISCONNECT": 2,
        "_IRQ_GATTS_WRITE": 3,
        "_IRQ_GATTS_INDICATE_DONE": 20,
        "_IRQ_MTU_EXCHANGED": 21,
        "_IRQ_CONNECTION_UPDATE": 27,
        "_IRQ_ENCRYPTION_UPDATE": 28,
        "_IRQ_GET_SECRET": 29,
        "_IRQ_SET_SECRET": 30,
        "FLAG_BROADCAST": 0x0001,
        "FLAG_READ": 0x0002,
        "FLAG_WRITE_NO_RESPONSE": 0x0004,
        "FLAG_WRITE": 0x0008,
        "FLAG_NOTIFY": 0x0010,
        "FLAG_INDICATE": 0x0020,
        "FLAG_READ_ENCRYPTED": 0x0200,
        "FLAG_WRITE_ENCRYPTED": 0x1000,
        "_EPERM": 1,
        "_ENOMEM": 12,
        "_EINVAL": 22,
        "_ENOTCONN": 107,
    }
    assert {k: consts[k] for k in documented} == documented


async def _micropython(
    code_or_file: str | Path, radio_endpoint: str, *args: str, cwd: Path | None = None
):
    env = micropython_env()
    env["MUWATCH_RADIO"] = radio_endpoint
    argv = [micropython_binary(), "-X", "heapsize=512k"]
    argv += [str(code_or_file)] if isinstance(code_or_file, Path) else ["-c", code_or_file]
    return await asyncio.create_subprocess_exec(
        *argv,
        *args,
        env=env,
        cwd=str(cwd or ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def test_import_fails_without_a_radio_like_a_board_without_bluetooth(micropython):
    out = micropython.run(
        """
        try:
            import bluetooth
            print("imported")
        except ImportError as e:
            print("ImportError", e)
        """
    )
    assert out.startswith("ImportError") and "MUWATCH_RADIO" in out


def test_errors_are_micropythons():
    code = """
import bluetooth
ble = bluetooth.BLE()
def err(f, *a):
    try:
        f(*a)
        return "ok"
    except OSError as e:
        return "OSError %d" % e.args[0]
    except TypeError:
        return "TypeError"
print("inactive", err(ble.gatts_notify, 0, 1, b"x"))
ble.active(True)
svc = ((bluetooth.UUID(0x180F), ((bluetooth.UUID(0x2A19), bluetooth.FLAG_READ),)),)
print("not_uuid", err(ble.gatts_register_services, ((0x180F, ()),)))
((h,),) = ble.gatts_register_services(svc)
print("bad_handle", err(ble.gatts_read, h + 50))
print("no_conn", err(ble.gatts_notify, 7, h, b"x"))
print("long_adv", err(ble.gap_advertise, 100000, bytes(40)))
ble.gap_advertise(100000, b"\\x02\\x01\\x06")
print("busy", err(ble.gatts_register_services, svc))
print("mac", ble.config("mac")[0], len(ble.config("mac")[1]))
print("uuid", bluetooth.UUID(0x2A19), bluetooth.UUID("6d770001-1762-447b-83a3-96d065c9e115"))
print("disconnect_unknown", ble.gap_disconnect(3))
"""

    async def main():
        radio = Radio(address="A1:B2:C3:D4:E5:F6")
        endpoints = await radio.start()
        proc = await _micropython(code, endpoints["firmware"])
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        await radio.stop()
        return proc.returncode, out.decode(), err.decode()

    rc, out, err = run(main())
    assert rc == 0, err
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert lines["inactive"] == "OSError 1"
    assert lines["not_uuid"] == "TypeError"
    assert lines["bad_handle"] == "OSError 22"
    assert lines["no_conn"] == "OSError 107"
    assert lines["long_adv"] == "OSError 22"
    assert lines["busy"] == "OSError 16"
    assert lines["mac"] == "0 6"
    assert lines["uuid"] == "UUID(0x2a19) UUID('6d770001-1762-447b-83a3-96d065c9e115')"
    assert lines["disconnect_unknown"] == "False"


class _Fw:
    """The MicroPython peripheral (tests/ble/mp/peripheral.py) on a radio, seen from bleak."""

    def __init__(self, radio: Radio, endpoints: dict[str, str], workdir: Path) -> None:
        self.radio = radio
        self.endpoints = endpoints
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await _micropython(
            HERE / "mp" / "peripheral.py",
            self.endpoints["firmware"],
            "secrets.json",
            cwd=self.workdir,
        )
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode().strip())

    async def wait_line(self, prefix: str, timeout: float = 30.0) -> str:
        end = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < end:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            if self.proc is not None and self.proc.returncode is not None:
                break
            await asyncio.sleep(0.02)
        err = b""
        if (
            self.proc is not None
            and self.proc.stderr is not None
            and self.proc.returncode is not None
        ):
            err = await self.proc.stderr.read()
        raise AssertionError(f"no line {prefix!r}; got {self.lines}; stderr {err.decode()}")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def client(self, **kwargs: object) -> BleakClient:
        device = await BleakScanner.find_device_by_name(
            "muw-SHIM", timeout=20, backend=BumbleScanner, transport=self.endpoints["hci"]
        )
        assert device is not None, f"muw-SHIM not advertising; firmware said {self.lines}"
        client = BleakClient(
            device, backend=BumbleClient, transport=self.endpoints["hci"], **kwargs
        )
        await client.connect()
        return client


async def _with_fw(tmp_path: Path, body, tx_buffers: int = 12):
    radio = Radio(address="A1:B2:C3:D4:E5:F6", tx_buffers=tx_buffers)
    endpoints = await radio.start()
    fw = _Fw(radio, endpoints, tmp_path)
    await fw.start()
    try:
        await fw.wait_line("HANDLES")
        return await body(fw)
    finally:
        await fw.stop()
        await radio.stop()


def test_enomem_back_pressure_loses_and_reorders_nothing(tmp_path):
    async def body(fw: _Fw):
        got: list[int] = []
        client = await fw.client()
        await client.start_notify(DATA, lambda _c, v: got.append(int.from_bytes(v[:4], "little")))
        await client.write_gatt_char(CMD, b"stream 800", response=True)
        line = await fw.wait_line("STREAMED", timeout=60)
        while len(got) < 800:
            await asyncio.sleep(0.05)
        await client.disconnect()
        return got, line, fw.radio.stats

    got, line, stats = run(_with_fw(tmp_path, body), timeout=120)
    _, sent, _, refusals = line.split()
    assert int(sent) == 800 and got == list(range(800))
    assert int(refusals) > 0, "the stack never pushed back: no pacing was exercised"
    assert stats.max_outstanding <= 12
    assert stats.notifications == 800 and stats.notifications_truncated == 0


def test_gatts_notify_sends_whether_or_not_the_host_subscribed(tmp_path):
    """MicroPython fact: the stack does not look at the CCCD; buffers still come back."""

    async def body(fw: _Fw):
        client = await fw.client()  # connected, never subscribed to DATA
        await client.write_gatt_char(CMD, b"stream 100", response=True)
        line = await fw.wait_line("STREAMED", timeout=60)
        await client.disconnect()
        return line, fw.radio.stats

    line, stats = run(_with_fw(tmp_path, body))
    assert line.split()[1] == "100"
    assert stats.notifications == 100 and stats.max_outstanding <= 12


def test_gatts_notify_allocates_nothing_with_the_heap_locked(tmp_path):
    async def body(fw: _Fw):
        client = await fw.client()
        await client.start_notify(DATA, lambda _c, v: None)
        await client.write_gatt_char(CMD, b"locked 30", response=True)
        line = await fw.wait_line("LOCKED")
        await client.disconnect()
        return line

    _, ok, refused = run(_with_fw(tmp_path, body, tx_buffers=8)).split()
    # 8 buffers: 8 accepted, the rest refused with ENOMEM, none of it allocating
    assert (int(ok), int(refused)) == (8, 22)


def test_indications_are_confirmed_back_to_the_firmware(tmp_path):
    async def body(fw: _Fw):
        got: list[bytes] = []
        client = await fw.client()
        await client.start_notify(IND, lambda _c, v: got.append(bytes(v)))
        await client.write_gatt_char(CMD, b"indicate 1", response=True)
        done = await fw.wait_line("INDICATE_DONE")
        await client.disconnect()
        return got, done

    got, done = run(_with_fw(tmp_path, body))
    assert got == [b"ind-1"]
    assert done == "INDICATE_DONE True 0"  # _IRQ_GATTS_INDICATE_DONE, status 0 (confirmed)


def test_a_notification_longer_than_the_mtu_is_truncated_and_counted(tmp_path):
    """Pitfall 4 on the sensor side: NimBLE (and bumble) cut what does not fit MTU - 3."""

    async def body(fw: _Fw):
        got: list[bytes] = []
        client = await fw.client()
        await client.start_notify(DATA, lambda _c, v: got.append(bytes(v)))
        await client.write_gatt_char(CMD, b"big", response=True)
        await fw.wait_line("BIG")
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        await client.disconnect()
        return got, fw.radio.stats.notifications_truncated

    got, truncated = run(_with_fw(tmp_path, body))
    assert [len(v) for v in got] == [244] and truncated == 1


def test_radio_command_line_rejects_impossible_models():
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "muwatch.sim.radio", "--loss", "1.5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "loss must be in [0, 1)" in proc.stderr


def test_client_writes_are_truncated_to_the_value_buffer_and_counted(tmp_path):
    async def body(fw: _Fw):
        client = await fw.client()
        await client.write_gatt_char(SMALL, bytes(60), response=True)
        first = await fw.wait_line("WRITE")
        await client.write_gatt_char(CMD, b"buffer 100", response=True)
        await fw.wait_line("BUFFER")
        fw.lines.clear()
        await client.write_gatt_char(SMALL, bytes(60), response=True)
        second = await fw.wait_line("WRITE")
        await client.disconnect()
        return first, second, fw.radio.stats.writes_truncated

    first, second, truncated = run(_with_fw(tmp_path, body))
    assert first.split()[2] == "20" and second.split()[2] == "60"
    assert truncated == 1


def test_irqs_mtu_and_encrypted_reads(tmp_path):
    async def body(fw: _Fw):
        client = await fw.client()
        connect = await fw.wait_line("CONNECT")
        mtu = await fw.wait_line("MTU")
        with pytest.raises(BleakGATTProtocolError) as refused:
            await client.read_gatt_char(PROT)
        await client.pair()
        enc = await fw.wait_line("ENCRYPTION")
        value = await client.read_gatt_char(PROT)
        await client.write_gatt_char(CMD, b"bye", response=True)
        await fw.wait_line("DISCONNECT")
        return connect, mtu, refused.value.code, enc, value

    connect, mtu, code, enc, value = run(_with_fw(tmp_path, body))
    _, conn, addr_type, addr_kind, addr_len = connect.split()
    assert addr_kind == "memoryview" and addr_len == "6" and addr_type in ("0", "1")
    assert mtu == "MTU 247"
    assert code == 0x05  # insufficient authentication before pairing
    assert enc.split()[1] == "1"  # encrypted
    assert value == b"protected"


def test_bond_keys_live_in_the_firmware_store_and_survive_a_restart(tmp_path):
    bonds = BondStore(tmp_path / "host-bonds.json")

    async def body(fw: _Fw):
        client = await fw.client(bond_store=bonds)
        await client.pair()
        await fw.wait_line("SET_SECRET 2 True")
        await client.disconnect()
        # The sensor reboots: a new process reads its keys back from flash.
        await fw.stop()
        fw.lines.clear()
        await fw.start()
        await fw.wait_line("HANDLES")
        client = await fw.client(bond_store=bonds)
        encrypted = client._backend.is_encrypted
        got = await fw.wait_line("GET_SECRET")
        enc = await fw.wait_line("ENCRYPTION")
        await client.disconnect()
        return encrypted, got, enc

    encrypted, got, enc = run(_with_fw(tmp_path, body), timeout=120)
    assert encrypted, "the reconnect was not encrypted with the stored bond"
    assert got.startswith("GET_SECRET 2")
    assert enc.split()[1:3] == ["1", "1"]  # encrypted, bonded
    assert (tmp_path / "secrets.json").exists()


def test_a_sensor_that_dies_leaves_the_host_a_supervision_timeout(tmp_path):
    async def body(fw: _Fw):
        drops: list[object] = []
        client = await fw.client(disconnected_callback=drops.append, supervision_timeout_ms=300)
        assert fw.proc is not None
        fw.proc.kill()
        await fw.proc.wait()
        for _ in range(200):
            if drops:
                break
            await asyncio.sleep(0.02)
        return len(drops), client._backend.last_disconnect_reason, fw.radio.status()

    n, reason, status = run(_with_fw(tmp_path, body))
    assert (n, reason) == (1, 0x08)
    assert status["firmware"] is False and status["link"]["supervision_timeouts"] == 1


def test_radio_control_commands_and_errors():
    async def main():
        radio = Radio()
        await radio.start(control_listen=None)
        out = [
            radio.command({"op": "status"})["firmware"],
            radio.command({"op": "outage", "seconds": 0.1})["ok"],
            radio.command({"op": "set_model", "loss": 0.1})["model"]["loss"],
            radio.command({"op": "nonsense"}),
        ]
        with pytest.raises(ValueError):
            radio.command({"op": "set_model", "loss": 2.0})
        await radio.stop()
        return out

    firmware, ok, loss, bad = run(main())
    assert firmware is False and ok and loss == 0.1
    assert bad["ok"] is False and "status, outage" in bad["error"]
