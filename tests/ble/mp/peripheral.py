# A MicroPython peripheral on the `bluetooth` shim, driven by the host through a command
# characteristic: what the shim tests need from a firmware, written the way firmware is
# (IRQ records, a task acts). Prints one line per event for the test to read.
import asyncio
import json
import struct
import sys

import bluetooth
import micropython
from micropython import const

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

SECRETS = sys.argv[1] if len(sys.argv) > 1 else "secrets.json"
SVC = bluetooth.UUID("6d770001-1762-447b-83a3-96d065c9e115")
DATA = (bluetooth.UUID("6d770002-1762-447b-83a3-96d065c9e115"), bluetooth.FLAG_NOTIFY)
CMD = (bluetooth.UUID("6d770003-1762-447b-83a3-96d065c9e115"), bluetooth.FLAG_WRITE)
SMALL = (
    bluetooth.UUID("6d7700e1-1762-447b-83a3-96d065c9e115"),
    bluetooth.FLAG_WRITE | bluetooth.FLAG_READ,
)
PROT = (bluetooth.UUID("6d7700e2-1762-447b-83a3-96d065c9e115"), bluetooth.FLAG_READ | 0x0200)
IND = (bluetooth.UUID("6d7700e3-1762-447b-83a3-96d065c9e115"), bluetooth.FLAG_INDICATE)

secrets = {}
try:
    with open(SECRETS) as f:
        for t, k, v in json.load(f):
            secrets[(t, bytes.fromhex(k))] = bytes.fromhex(v)
except OSError:
    pass


def save():
    with open(SECRETS, "w") as f:
        json.dump([[t, k.hex(), v.hex()] for (t, k), v in secrets.items()], f)


def say(*args):
    print(*args)


ble = bluetooth.BLE()
ble.active(True)
ble.config(mtu=247, gap_name="muw-SHIM", bond=True, le_secure=True, io=3)
state = {"conn": None, "cmds": [], "mtu": 23}
wake = asyncio.ThreadSafeFlag()


def irq(event, data):
    if event == _IRQ_CENTRAL_CONNECT:
        conn, addr_type, addr = data
        state["conn"] = conn
        say("CONNECT", conn, addr_type, type(addr).__name__, len(addr))
        ble.gattc_exchange_mtu(conn)
    elif event == _IRQ_CENTRAL_DISCONNECT:
        state["conn"] = None
        say("DISCONNECT", data[0])
        advertise()
    elif event == _IRQ_GATTS_WRITE:
        conn, handle = data
        value = ble.gatts_read(handle)
        if handle == h_cmd:
            state["cmds"].append(bytes(value))
        else:
            say("WRITE", handle, len(value))
    elif event == _IRQ_GATTS_INDICATE_DONE:
        say("INDICATE_DONE", data[1] == h_ind, data[2])
    elif event == _IRQ_MTU_EXCHANGED:
        state["mtu"] = data[1]
        say("MTU", data[1])
    elif event == _IRQ_ENCRYPTION_UPDATE:
        say("ENCRYPTION", int(data[1]), int(data[3]), data[4])
    elif event == _IRQ_GET_SECRET:
        sec_type, index, key = data
        say("GET_SECRET", sec_type, index, key is not None)
        if key is None:
            found = [v for (t, k), v in secrets.items() if t == sec_type]
            return found[index] if index < len(found) else None
        return secrets.get((sec_type, bytes(key)))
    elif event == _IRQ_SET_SECRET:
        sec_type, key, value = data
        say("SET_SECRET", sec_type, value is not None)
        if value is None:
            secrets.pop((sec_type, bytes(key)), None)
        else:
            secrets[(sec_type, bytes(key))] = bytes(value)
        save()
        return True
    wake.set()


ble.irq(irq)
((h_data, h_cmd, h_small, h_prot, h_ind),) = ble.gatts_register_services(
    ((SVC, (DATA, CMD, SMALL, PROT, IND)),)
)
ble.gatts_set_buffer(h_cmd, 64)
ble.gatts_write(h_prot, b"protected")
say("HANDLES", h_data, h_cmd, h_small, h_prot)


def advertise():
    name = b"muw-SHIM"
    ble.gap_advertise(
        50000, bytes([2, 1, 6, 17, 7]) + bytes(SVC) + bytes([len(name) + 1, 9]) + name
    )


def burst(conn, first, n, buf):
    # The firmware's pacing: a refused frame is tried again later, never skipped.
    sent = 0
    refused = 0
    while sent < n:
        struct.pack_into("<I", buf, 0, first + sent)
        try:
            ble.gatts_notify(conn, h_data, buf)
            sent += 1
        except OSError:
            refused += 1
            return sent, refused
    return sent, refused


def locked_notify(conn, buf, n):
    micropython.heap_lock()
    try:
        ok = 0
        refused = 0
        for _i in range(n):
            try:
                ble.gatts_notify(conn, h_data, buf)
                ok += 1
            except OSError:
                refused += 1
    finally:
        micropython.heap_unlock()
    return ok, refused


async def main():
    advertise()
    buf = bytearray(244)
    while True:
        await wake.wait()
        while state["cmds"]:
            cmd = state["cmds"].pop(0).decode().split()
            conn = state["conn"]
            if cmd[0] == "stream":
                n = int(cmd[1])
                total = 0
                refusals = 0
                while total < n and state["conn"] is not None:
                    sent, refused = burst(conn, total, n - total, buf)
                    total += sent
                    refusals += refused
                    if refused:
                        await asyncio.sleep_ms(1)
                say("STREAMED", total, "ENOMEM", refusals)
            elif cmd[0] == "locked":
                ok, refused = locked_notify(conn, buf, int(cmd[1]))
                say("LOCKED", ok, refused)
            elif cmd[0] == "indicate":
                ble.gatts_indicate(conn, h_ind, b"ind-" + cmd[1].encode())
                say("INDICATED", cmd[1])
            elif cmd[0] == "big":
                ble.gatts_notify(conn, h_data, bytes(300))  # more than MTU - 3
                say("BIG")
            elif cmd[0] == "buffer":
                ble.gatts_set_buffer(h_small, int(cmd[1]))
                say("BUFFER", cmd[1])
            elif cmd[0] == "bye":
                ble.gap_disconnect(conn)
            elif cmd[0] == "exit":
                say("EXIT")
                sys.exit(0)


asyncio.run(main())
