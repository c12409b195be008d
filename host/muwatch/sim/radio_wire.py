"""The socket protocol between the firmware's `bluetooth` shim (firmware/sim/bluetooth.py) and
the radio process (muwatch.sim.radio).

On real hardware the NimBLE stack sits between MicroPython's `bluetooth` module and the
controller; in the twin, the shim forwards each `bluetooth.BLE` call to the radio and the radio
sends back what NimBLE would raise as IRQs. Messages are length-prefixed::

    u16 length (of what follows, little-endian) | u8 type | body

Little-endian integers throughout; `bytes` fields are u16 length + data, and length 0xFFFF
means None. The MicroPython side repeats these numbers (it cannot import this module);
tests/ble/test_shim.py checks that both agree.
"""

from __future__ import annotations

import struct

VERSION = 1

# shim -> radio
HELLO = 0x01  # u16 request id, u8 version -> REPLY(u8 addr_type, 6 bytes addr, u16 credits)
REGISTER = 0x02  # u16 request id, service tree (see encode_services) -> REPLY(handles)
ADVERTISE = 0x03  # u32 interval_us (0 = stop), u8 connectable, bytes adv, bytes resp
GATTS_WRITE = 0x04  # u16 handle, u8 send_update, bytes value
NOTIFY = 0x05  # u16 conn, u16 handle, raw value (rest of the message)
INDICATE = 0x06  # u16 conn, u16 handle, raw value
DISCONNECT = 0x07  # u16 conn
EXCHANGE_MTU = 0x08  # u16 conn
CONFIG = 0x09  # u16 mtu, u8 bond, u8 le_secure, u8 mitm, u8 io, bytes gap_name
PAIR = 0x0A  # u16 conn
SECRET_REPLY = 0x0B  # u16 request id, u8 kind (0 none, 1 bytes, 2 bool), bytes value
SET_BUFFER = 0x0C  # u16 handle, u16 length, u8 append

# radio -> shim
REPLY = 0x81  # u16 request id, u8 status (0 ok, else errno), body
CONNECT = 0x83  # u16 conn, u8 addr_type, 6 bytes address (MSB first)
DISCONNECTED = 0x84  # u16 conn, u8 addr_type, 6 bytes address, u8 reason
WRITE = 0x85  # u16 conn, u16 handle, raw value
MTU = 0x86  # u16 conn, u16 mtu
CREDITS = 0x87  # u16 count of notification buffers freed
INDICATE_DONE = 0x88  # u16 conn, u16 handle, u8 status
ENCRYPTION = 0x89  # u16 conn, u8 encrypted, u8 authenticated, u8 bonded, u8 key_size
GET_SECRET = 0x8A  # u16 request id, u8 sec_type, u16 index, bytes key (None = by index)
SET_SECRET = 0x8B  # u16 request id, u8 sec_type, bytes key, bytes value (None = delete)
CONN_UPDATE = 0x8C  # u16 conn, u16 interval (1.25 ms), u16 latency, u16 timeout (10 ms), u8 status

#: MicroPython `bluetooth` IRQ codes the shim raises (docs/library/bluetooth.rst).
IRQ_CENTRAL_CONNECT = 1
IRQ_CENTRAL_DISCONNECT = 2
IRQ_GATTS_WRITE = 3
IRQ_GATTS_INDICATE_DONE = 20
IRQ_MTU_EXCHANGED = 21
IRQ_CONNECTION_UPDATE = 27
IRQ_ENCRYPTION_UPDATE = 28
IRQ_GET_SECRET = 29
IRQ_SET_SECRET = 30

#: Bond records the radio keeps through the firmware's secret store: NimBLE's peer record.
SEC_TYPE_PEER = 2

_NONE = 0xFFFF


def frame(msg_type: int, body: bytes = b"") -> bytes:
    """One message: length, type, body."""
    return struct.pack("<HB", len(body) + 1, msg_type) + body


def pack_bytes(value: bytes | None) -> bytes:
    if value is None:
        return struct.pack("<H", _NONE)
    if len(value) >= _NONE:
        raise ValueError("value too long for the radio wire")
    return struct.pack("<H", len(value)) + bytes(value)


def unpack_bytes(buf: bytes, off: int) -> tuple[bytes | None, int]:
    (n,) = struct.unpack_from("<H", buf, off)
    off += 2
    if n == _NONE:
        return None, off
    if off + n > len(buf):
        raise ValueError("bytes field runs past the message")
    return bytes(buf[off : off + n]), off + n


class Characteristic:
    """A characteristic (or descriptor, with no descriptors of its own) as the firmware gave it."""

    def __init__(self, uuid: bytes, flags: int, descriptors: list[Characteristic]) -> None:
        self.uuid = uuid  # 2 or 16 bytes, little-endian as in bluetooth.UUID
        self.flags = flags
        self.descriptors = descriptors


class ServiceDef:
    def __init__(self, uuid: bytes, characteristics: list[Characteristic]) -> None:
        self.uuid = uuid
        self.characteristics = characteristics


def decode_services(buf: bytes, off: int) -> list[ServiceDef]:
    """u8 n_services; per service: bytes uuid, u8 n_chars; per char: bytes uuid, u16 flags,
    u8 n_desc; per descriptor: bytes uuid, u16 flags."""
    services = []
    n_services = buf[off]
    off += 1
    for _ in range(n_services):
        uuid, off = unpack_bytes(buf, off)
        n_chars = buf[off]
        off += 1
        chars = []
        for _ in range(n_chars):
            c_uuid, off = unpack_bytes(buf, off)
            (flags,) = struct.unpack_from("<H", buf, off)
            n_desc = buf[off + 2]
            off += 3
            descs = []
            for _ in range(n_desc):
                d_uuid, off = unpack_bytes(buf, off)
                (d_flags,) = struct.unpack_from("<H", buf, off)
                off += 2
                if d_uuid is None:
                    raise ValueError("descriptor without a UUID")
                descs.append(Characteristic(d_uuid, d_flags, []))
            if c_uuid is None:
                raise ValueError("characteristic without a UUID")
            chars.append(Characteristic(c_uuid, flags, descs))
        if uuid is None:
            raise ValueError("service without a UUID")
        services.append(ServiceDef(uuid, chars))
    return services


def encode_services(services: list[ServiceDef]) -> bytes:
    out = bytearray([len(services)])
    for service in services:
        out += pack_bytes(service.uuid) + bytes([len(service.characteristics)])
        for char in service.characteristics:
            out += pack_bytes(char.uuid) + struct.pack("<HB", char.flags, len(char.descriptors))
            for desc in char.descriptors:
                out += pack_bytes(desc.uuid) + struct.pack("<H", desc.flags)
    return bytes(out)
