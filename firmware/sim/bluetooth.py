"""`bluetooth` for the MicroPython unix port: MicroPython's BLE API, relayed to a radio process.

Unix-port only (never deployed). On the sensor, `bluetooth.BLE` drives NimBLE; here every call
goes over a socket to `muwatch.sim.radio`, whose bumble peripheral mirrors the GATT table and
whose link model decides when packets reach the host. What the firmware sees is meant to be
what NimBLE on an ESP32 shows it:

* the same signatures, IRQ codes, flags and OSError errnos (EPERM when inactive, ENOTCONN for a
  connection that is gone, EINVAL for an unknown handle, EBUSY when registering while
  advertising, and ENOMEM from gatts_notify when the stack's buffers are full: each
  notification holds a buffer until the link delivered it, `tx_buffers` of them in all);
* IRQs run on the main thread between bytecodes (micropython.schedule), like the scheduler
  callbacks they are on the board, and never while the heap is locked; an asyncio task wakes
  the main thread when it is idle in the event loop;
* values are 20-byte buffers until gatts_write or gatts_set_buffer enlarges them, and a client
  write longer than the buffer is truncated (the radio counts it);
* bond keys live where the firmware keeps them: _IRQ_GET_SECRET / _IRQ_SET_SECRET.

The radio endpoint comes from $MUWATCH_RADIO (``tcp:HOST:PORT`` or ``unix:PATH``). Without it,
importing this module fails like it does on a board without Bluetooth.

Not provided (the sensor is a peripheral): central role (gap_scan, gap_connect, gattc_* except
gattc_exchange_mtu), L2CAP channels, passkey entry (Just Works only).
"""

import _thread
import os
import select
import socket
import struct
import sys
import time

import micropython
from micropython import const

_RADIO = os.getenv("MUWATCH_RADIO")
if not _RADIO:
    raise ImportError("no module named 'bluetooth' (MUWATCH_RADIO not set: no simulated radio)")

FLAG_BROADCAST = const(0x0001)
FLAG_READ = const(0x0002)
FLAG_WRITE_NO_RESPONSE = const(0x0004)
FLAG_WRITE = const(0x0008)
FLAG_NOTIFY = const(0x0010)
FLAG_INDICATE = const(0x0020)
FLAG_AUTHENTICATED_SIGNED_WRITE = const(0x0040)
FLAG_AUX_WRITE = const(0x0100)
FLAG_READ_ENCRYPTED = const(0x0200)
FLAG_READ_AUTHENTICATED = const(0x0400)
FLAG_READ_AUTHORIZED = const(0x0800)
FLAG_WRITE_ENCRYPTED = const(0x1000)
FLAG_WRITE_AUTHENTICATED = const(0x2000)
FLAG_WRITE_AUTHORIZED = const(0x4000)

# IRQ codes (docs/library/bluetooth.rst)
_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_CONNECTION_UPDATE = const(27)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

# errno values (MicroPython's uerrno numbering on every port)
_EPERM = const(1)
_ENOMEM = const(12)
_EBUSY = const(16)
_EINVAL = const(22)
_EOPNOTSUPP = const(95)
_ENOTCONN = const(107)
_ETIMEDOUT = const(110)

# Radio wire protocol (must match host/muwatch/sim/radio_wire.py)
_VERSION = const(1)
_HELLO = const(0x01)
_REGISTER = const(0x02)
_ADVERTISE = const(0x03)
_GATTS_WRITE = const(0x04)
_NOTIFY = const(0x05)
_INDICATE = const(0x06)
_DISCONNECT = const(0x07)
_EXCHANGE_MTU = const(0x08)
_CONFIG = const(0x09)
_PAIR = const(0x0A)
_SECRET_REPLY = const(0x0B)
_SET_BUFFER = const(0x0C)
_REPLY = const(0x81)
_CONNECT = const(0x83)
_DISCONNECTED = const(0x84)
_WRITE = const(0x85)
_MTU = const(0x86)
_CREDITS = const(0x87)
_INDICATE_DONE = const(0x88)
_ENCRYPTION = const(0x89)
_GET_SECRET = const(0x8A)
_SET_SECRET = const(0x8B)
_CONN_UPDATE = const(0x8C)
_NONE = const(0xFFFF)

_DEFAULT_BUFFER = const(20)
_MAX_VALUE = const(512)
_TX_HEADER = const(7)
_RX_BUF = const(2048)
_RPC_TIMEOUT_MS = const(5000)


class UUID:
    """A 16-bit or 128-bit Bluetooth UUID (little-endian bytes inside, as on the wire)."""

    def __init__(self, value):
        if isinstance(value, UUID):
            self._b = value._b
        elif isinstance(value, int):
            if not 0 <= value <= 0xFFFF:
                raise ValueError("invalid UUID")
            self._b = struct.pack("<H", value)
        elif isinstance(value, str):
            digits = value.replace("-", "")
            if len(digits) != 32:
                raise ValueError("invalid UUID")
            raw = bytes(int(digits[i : i + 2], 16) for i in range(0, 32, 2))
            self._b = bytes(reversed(raw))
        else:
            raw = bytes(value)
            if len(raw) not in (2, 4, 16):
                raise ValueError("invalid UUID")
            self._b = raw

    def __eq__(self, other):
        return isinstance(other, UUID) and self._b == other._b

    def __hash__(self):
        return hash(self._b)

    def __len__(self):
        return len(self._b)

    def __iter__(self):
        return iter(self._b)

    def __repr__(self):
        if len(self._b) == 2:
            return "UUID(0x%04x)" % struct.unpack("<H", self._b)[0]
        h = "".join("%02x" % b for b in reversed(self._b))
        return "UUID('%s-%s-%s-%s-%s')" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def _pack_bytes(value):
    if value is None:
        return struct.pack("<H", _NONE)
    return struct.pack("<H", len(value)) + bytes(value)


def _unpack_bytes(buf, off):
    n = buf[off] | buf[off + 1] << 8
    off += 2
    if n == _NONE:
        return None, off
    return bytes(buf[off : off + n]), off + n


def _sockaddr(spec):
    kind, _, rest = spec.partition(":")
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        return socket.AF_INET, socket.getaddrinfo(host, int(port))[0][-1]
    if kind == "unix":
        # struct sockaddr_un: sa_family (AF_UNIX = 1, host order) then the path.
        return socket.AF_UNIX, b"\x01\x00" + rest.encode() + b"\x00"
    raise ValueError("MUWATCH_RADIO must be tcp:HOST:PORT or unix:PATH, not %r" % spec)


class _BLE:
    def __init__(self):
        self._active = False
        self._sock = None
        self._irq = None
        self._send_lock = _thread.allocate_lock()
        self._q_lock = _thread.allocate_lock()
        self._events = []
        self._replies = {}
        self._req = 0
        self._sched_pending = False
        self._in_dispatch = False
        self._tsf = None
        self._credits = 0
        self._sent = 0  # written by the main thread only
        self._freed = 0  # written by the reader thread only
        self._conns = set()
        self._values = {}
        self._capacity = {}
        self._append = {}
        self._addr = bytes(6)
        self._advertising = False
        self._adv = b""
        self._resp = b""
        self._config = {
            "gap_name": b"MPY NIMBLE",
            "mtu": 256,
            "rxbuf": 1024,
            "addr_mode": 0,
            "bond": False,
            "le_secure": False,
            "mitm": False,
            "io": 3,
        }
        self._tx = bytearray(_TX_HEADER + _MAX_VALUE)

    # -- transport -------------------------------------------------------------------------
    def _send(self, msg_type, body=b""):
        n = len(body) + 1
        self._send_lock.acquire()
        try:
            self._sock.write(struct.pack("<HB", n, msg_type) + body)
        finally:
            self._send_lock.release()

    def _call(self, msg_type, body):
        self._req = (self._req + 1) & 0xFFFF
        req = self._req
        self._send(msg_type, struct.pack("<H", req) + body)
        deadline = time.ticks_add(time.ticks_ms(), _RPC_TIMEOUT_MS)
        while True:
            self._q_lock.acquire()
            reply = self._replies.pop(req, None)
            self._q_lock.release()
            if reply is not None:
                break
            if not self._active or time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(_ETIMEDOUT)
            time.sleep_ms(1)
        status, body = reply
        if status:
            raise OSError(status)
        return body

    def _reader(self, sock):
        # Preallocated buffers: this thread runs beside a firmware that keeps its heap tight.
        # Socket reads in MicroPython never return short, so read a header, then its message.
        head = bytearray(2)
        body = bytearray(_RX_BUF)
        view = memoryview(body)
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        while self._active:
            if poller.poll(50):
                n = 0
                try:
                    if sock.readinto(head) == 2:
                        n = head[0] | head[1] << 8
                        if not 0 < n <= _RX_BUF or sock.readinto(body, n) != n:
                            n = 0
                except OSError:
                    n = 0
                if not n:
                    if self._active:
                        print("bluetooth: the simulated radio went away", file=sys.stderr)
                    self._active = False
                    break
                self._incoming(body[0], bytes(view[1:n]))
            self._q_lock.acquire()
            pending = len(self._events)
            self._q_lock.release()
            if pending and not self._sched_pending:
                self._wake()

    def _incoming(self, msg_type, body):
        if msg_type == _CREDITS:
            self._freed += body[0] | body[1] << 8
            return
        self._q_lock.acquire()
        if msg_type == _REPLY:
            self._replies[body[0] | body[1] << 8] = (body[2], body[3:])
        else:
            self._events.append((msg_type, body))
        self._q_lock.release()
        if msg_type != _REPLY:
            self._wake()

    def _wake(self):
        self._sched_pending = True
        try:
            micropython.schedule(self._dispatch, None)
        except RuntimeError:
            pass  # schedule queue full: the reader tries again within 50 ms
        if self._tsf is not None:
            self._tsf.set()

    async def _pump(self):
        while True:
            await self._tsf.wait()
            self._dispatch(None)

    def _dispatch(self, _arg):
        self._sched_pending = False
        if self._in_dispatch:
            return
        try:
            probe = bytearray(1)  # noqa: F841  (is the heap locked? then IRQs wait)
        except MemoryError:
            return
        self._in_dispatch = True
        try:
            while True:
                self._q_lock.acquire()
                event = self._events.pop(0) if self._events else None
                self._q_lock.release()
                if event is None:
                    break
                self._event(event[0], event[1])
        finally:
            self._in_dispatch = False

    def _call_irq(self, event, data):
        handler = self._irq
        if handler is None:
            return None
        try:
            return handler(event, data)
        except Exception as e:
            print("Unhandled exception in IRQ callback handler", file=sys.stderr)
            sys.print_exception(e, sys.stderr)
            return None

    def _event(self, msg_type, body):
        if msg_type == _CONNECT:
            conn = body[0] | body[1] << 8
            self._conns.add(conn)
            self._advertising = False
            self._call_irq(_IRQ_CENTRAL_CONNECT, (conn, body[2], memoryview(bytes(body[3:9]))))
        elif msg_type == _DISCONNECTED:
            conn = body[0] | body[1] << 8
            self._conns.discard(conn)
            self._call_irq(_IRQ_CENTRAL_DISCONNECT, (conn, body[2], memoryview(bytes(body[3:9]))))
        elif msg_type == _WRITE:
            conn = body[0] | body[1] << 8
            handle = body[2] | body[3] << 8
            data = bytes(body[4:])
            if self._append.get(handle):
                data = (self._values.get(handle, b"") + data)[: self._capacity.get(handle, _DEFAULT_BUFFER)]
            self._values[handle] = data
            self._call_irq(_IRQ_GATTS_WRITE, (conn, handle))
        elif msg_type == _MTU:
            self._call_irq(_IRQ_MTU_EXCHANGED, struct.unpack("<HH", body))
        elif msg_type == _INDICATE_DONE:
            self._call_irq(_IRQ_GATTS_INDICATE_DONE, struct.unpack("<HHB", body))
        elif msg_type == _ENCRYPTION:
            conn, enc, auth, bonded, size = struct.unpack("<HBBBB", body)
            self._call_irq(_IRQ_ENCRYPTION_UPDATE, (conn, bool(enc), bool(auth), bool(bonded), size))
        elif msg_type == _CONN_UPDATE:
            self._call_irq(_IRQ_CONNECTION_UPDATE, struct.unpack("<HHHHB", body))
        elif msg_type == _GET_SECRET:
            req, sec_type, index = struct.unpack_from("<HBH", body, 0)
            key, _ = _unpack_bytes(body, 5)
            value = self._call_irq(
                _IRQ_GET_SECRET, (sec_type, index, memoryview(key) if key is not None else None)
            )
            if value is None:
                self._send(_SECRET_REPLY, struct.pack("<HB", req, 0) + _pack_bytes(None))
            else:
                self._send(_SECRET_REPLY, struct.pack("<HB", req, 1) + _pack_bytes(bytes(value)))
        elif msg_type == _SET_SECRET:
            req, sec_type = struct.unpack_from("<HB", body, 0)
            key, off = _unpack_bytes(body, 3)
            value, _ = _unpack_bytes(body, off)
            ok = self._call_irq(
                _IRQ_SET_SECRET,
                (sec_type, memoryview(key), memoryview(value) if value is not None else None),
            )
            self._send(_SECRET_REPLY, struct.pack("<HB", req, 2) + _pack_bytes(b"\x01" if ok else b"\x00"))

    def _need_active(self):
        if not self._active:
            raise OSError(_EPERM)

    # -- configuration ---------------------------------------------------------------------
    def active(self, *args):
        if not args:
            return self._active
        if bool(args[0]) == self._active:
            return self._active
        if args[0]:
            family, addr = _sockaddr(_RADIO)
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.connect(addr)
            self._sock = sock
            self._active = True
            self._sent = 0
            self._freed = 0
            _thread.start_new_thread(self._reader, (sock,))
            body = self._call(_HELLO, bytes([_VERSION]))
            self._addr = bytes(body[1:7])
            self._credits = body[7] | body[8] << 8
            self._send_config()
        else:
            self._active = False
            self._conns = set()
            self._advertising = False
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        return self._active

    def config(self, *args, **kwargs):
        if args:
            if len(args) != 1 or kwargs:
                raise TypeError("config takes one parameter name, or keyword arguments")
            name = args[0]
            if name == "mac":
                self._need_active()
                return (0, self._addr)
            if name == "gap_name":
                return self._config["gap_name"]
            if name in self._config:
                return self._config[name]
            raise ValueError("unknown config param")
        for name, value in kwargs.items():
            if name == "mac":
                raise ValueError("the simulated radio's address is set by the radio")
            if name not in self._config:
                raise ValueError("unknown config param")
            if name == "gap_name":
                value = value.encode() if isinstance(value, str) else bytes(value)
            self._config[name] = value
        if self._active:
            self._send_config()

    def _send_config(self):
        c = self._config
        body = struct.pack(
            "<HBBBB", c["mtu"], int(bool(c["bond"])), int(bool(c["le_secure"])), int(bool(c["mitm"])), c["io"]
        )
        self._send(_CONFIG, body + _pack_bytes(c["gap_name"]))

    def irq(self, handler):
        self._irq = handler
        if self._tsf is None:
            try:
                import asyncio

                self._tsf = asyncio.ThreadSafeFlag()
                asyncio.create_task(self._pump())
            except ImportError:
                pass

    # -- GAP -------------------------------------------------------------------------------
    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        self._need_active()
        if adv_data is not None:
            self._adv = bytes(adv_data)
        if resp_data is not None:
            self._resp = bytes(resp_data)
        if len(self._adv) > 31 or len(self._resp) > 31:
            raise OSError(_EINVAL)  # legacy advertising carries 31 bytes at most
        if interval_us is None:
            self._advertising = False
            self._send(_ADVERTISE, struct.pack("<IB", 0, 0) + _pack_bytes(b"") + _pack_bytes(b""))
            return
        self._advertising = True
        self._send(
            _ADVERTISE,
            struct.pack("<IB", max(int(interval_us), 20000), int(bool(connectable)))
            + _pack_bytes(self._adv)
            + _pack_bytes(self._resp),
        )

    def gap_disconnect(self, conn_handle):
        self._need_active()
        if conn_handle not in self._conns:
            return False
        self._send(_DISCONNECT, struct.pack("<H", conn_handle))
        return True

    def gap_pair(self, conn_handle):
        self._need_active()
        if conn_handle not in self._conns:
            raise OSError(_ENOTCONN)
        self._send(_PAIR, struct.pack("<H", conn_handle))

    def gap_passkey(self, conn_handle, action, passkey):
        raise OSError(_EOPNOTSUPP)  # Just Works only: the sensor has no display or keys

    def gap_scan(self, *args):
        raise OSError(_EOPNOTSUPP)

    def gap_connect(self, *args):
        raise OSError(_EOPNOTSUPP)

    def gattc_exchange_mtu(self, conn_handle):
        self._need_active()
        if conn_handle not in self._conns:
            raise OSError(_ENOTCONN)
        self._send(_EXCHANGE_MTU, struct.pack("<H", conn_handle))

    # -- GATT server -----------------------------------------------------------------------
    def gatts_register_services(self, services_definition):
        self._need_active()
        if self._advertising:
            raise OSError(_EBUSY)
        out = bytearray([len(services_definition)])
        for service in services_definition:
            uuid, chars = service[0], service[1]
            out += _pack_bytes(bytes(_uuid(uuid))) + bytes([len(chars)])
            for char in chars:
                descs = char[2] if len(char) > 2 else ()
                out += _pack_bytes(bytes(_uuid(char[0]))) + struct.pack("<HB", char[1], len(descs))
                for desc in descs:
                    out += _pack_bytes(bytes(_uuid(desc[0]))) + struct.pack("<H", desc[1])
        body = self._call(_REGISTER, bytes(out))
        groups = []
        off = 1
        for _ in range(body[0]):
            n = body[off]
            off += 1
            handles = []
            for _ in range(n):
                handle = body[off] | body[off + 1] << 8
                off += 2
                handles.append(handle)
                self._values[handle] = b""
                self._capacity[handle] = _DEFAULT_BUFFER
                self._append[handle] = False
            groups.append(tuple(handles))
        return tuple(groups)

    def gatts_read(self, value_handle):
        self._need_active()
        if value_handle not in self._values:
            raise OSError(_EINVAL)
        value = self._values[value_handle]
        if self._append.get(value_handle):
            self._values[value_handle] = b""
        return value

    def gatts_write(self, value_handle, data, send_update=False):
        self._need_active()
        if value_handle not in self._values:
            raise OSError(_EINVAL)
        data = bytes(data)
        self._values[value_handle] = data
        if len(data) > self._capacity[value_handle]:
            self._capacity[value_handle] = len(data)
        self._send(_GATTS_WRITE, struct.pack("<HB", value_handle, int(bool(send_update))) + _pack_bytes(data))

    def gatts_set_buffer(self, value_handle, length, append=False):
        self._need_active()
        if value_handle not in self._values:
            raise OSError(_EINVAL)
        self._capacity[value_handle] = length
        self._append[value_handle] = bool(append)
        self._send(_SET_BUFFER, struct.pack("<HHB", value_handle, length, int(bool(append))))

    def gatts_notify(self, conn_handle, value_handle, data=None):
        # Allocation-free when the frame is accepted: the firmware calls this heap-locked.
        self._push(_NOTIFY, conn_handle, value_handle, data)

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        self._push(_INDICATE, conn_handle, value_handle, data)

    def _push(self, msg_type, conn_handle, value_handle, data):
        if not self._active:
            raise OSError(_EPERM)
        if conn_handle not in self._conns:
            raise OSError(_ENOTCONN)
        if value_handle not in self._values:
            raise OSError(_EINVAL)
        if self._sent - self._freed >= self._credits:
            raise OSError(_ENOMEM)
        if data is None:
            data = self._values[value_handle]
        n = len(data)
        if n > _MAX_VALUE:
            raise OSError(_EINVAL)
        tx = self._tx
        self._send_lock.acquire()
        try:
            struct.pack_into("<HBHH", tx, 0, n + 5, msg_type, conn_handle, value_handle)
            tx[_TX_HEADER : _TX_HEADER + n] = data
            self._sock.write(tx, _TX_HEADER + n)
        finally:
            self._send_lock.release()
        self._sent += 1


def _uuid(value):
    if not isinstance(value, UUID):
        raise TypeError("expected bluetooth.UUID")
    return value


_ble = None


def BLE():  # noqa: N802  (MicroPython's name)
    """The singleton BLE object."""
    global _ble
    if _ble is None:
        _ble = _BLE()
    return _ble
