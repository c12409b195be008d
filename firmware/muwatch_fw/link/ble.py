"""BLE link: the muwatch GATT server on MicroPython's low-level `bluetooth` module
(docs/protocol.md section 6; the contract with the device is muwatch_fw/link/__init__.py).

GATT table: the EMG service (Data notify, Control write/write-without-response/notify,
Events notify/indicate, Info read), Device Information (0x180A) and Battery (0x180F).
Advertising: flags, the EMG service UUID and the name `muw-XXXX` (31 bytes, no scan
response). After a central connects the sensor asks for MTU 247 and sizes data frames to
MTU - 3. Security: LE Secure Connections, bonding, Just Works; bond keys live in flash
(bonds.json beside the config) through _IRQ_GET_SECRET / _IRQ_SET_SECRET. Until the link is
encrypted, requests other than GET_INFO and PING get NOT_PAIRED (commands.py asks
`secure()`) and no data or event frame is sent; data and events also wait for the host's
first request on a connection (it subscribes before it talks: earlier notifications would be
dropped by its stack and cost a RESEND).

Pacing: a frame the stack refuses (gatts_notify raising ENOMEM when NimBLE's buffers are
full) stays at the head of its queue and is sent again on the next flush, so nothing is
dropped or reordered. transmit() allocates nothing (the device's tick runs heap-locked).

IRQs only record what happened (requests are copied into preallocated slots, since the
next write replaces the characteristic's value); the link's task acts on it.
"""

import json

import asyncio
import bluetooth
from micropython import const

from .. import protocol as P
from . import KIND_DATA, KIND_EVENT, Link

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

_FLAG_READ = const(0x0002)
_FLAG_WRITE_NO_RESPONSE = const(0x0004)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)
_FLAG_INDICATE = const(0x0020)

_IO_NO_INPUT_OUTPUT = const(3)

_WANTED_MTU = const(247)
_DEFAULT_MTU = const(23)
_FRAME_MAX = const(244)  # ATT_MTU 247 - 3
_REQ_SLOTS = const(8)
_REQ_BUF = const(200)  # > MAX_REQUEST_LEN: an oversized write is seen whole, then refused
_ADV_INTERVAL_US = const(100_000)
_BATTERY_PERIOD_MS = const(1000)
_NO_CONN = const(-1)

_EMG_UUID = "6d770001-1762-447b-83a3-96d065c9e115"
_DATA_UUID = "6d770002-1762-447b-83a3-96d065c9e115"
_CONTROL_UUID = "6d770003-1762-447b-83a3-96d065c9e115"
_EVENTS_UUID = "6d770004-1762-447b-83a3-96d065c9e115"
_INFO_UUID = "6d770005-1762-447b-83a3-96d065c9e115"
_MANUFACTURER = "muwatch"

BONDS_FILE = "bonds.json"


def advertising_payload(name: str, service_uuid) -> bytes:
    """Flags, complete 128-bit UUID list, then the name (shortened if it does not fit 31)."""
    flags = b"\x02\x01\x06"  # LE General Discoverable, BR/EDR not supported
    uuids = bytes((17, 0x07)) + bytes(service_uuid)
    room = 31 - len(flags) - len(uuids) - 2
    raw = name.encode()
    kind = 0x09  # complete local name
    if len(raw) > room:
        raw = raw[:room]
        kind = 0x08  # shortened local name
    return flags + uuids + bytes((len(raw) + 1, kind)) + raw


def _ble():
    # Untyped on purpose: the ESP32 stubs give gatts_notify the wrong arity and type value
    # handles as memoryview; MicroPython's documentation is what this module follows.
    return bluetooth.BLE()


class BondStore:
    """Secrets NimBLE asks the application to keep, persisted as JSON in flash."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries = []  # [sec_type, key bytes, value bytes], in insertion order
        self.problem = None
        try:
            with open(path) as f:
                for sec_type, key, value in json.load(f):
                    self.entries.append([sec_type, bytes.fromhex(key), bytes.fromhex(value)])
        except OSError:
            pass  # no bonds yet
        except (ValueError, TypeError) as e:
            self.problem = "bond store %s unreadable (%s): starting without bonds" % (path, e)
            self.entries = []

    def get(self, sec_type: int, index: int, key):
        n = 0
        for t, k, v in self.entries:
            if t != sec_type:
                continue
            if key is None:
                if n == index:
                    return v
                n += 1
            elif k == key:
                return v
        return None

    def set(self, sec_type: int, key: bytes, value) -> bool:
        for i in range(len(self.entries)):
            e = self.entries[i]
            if e[0] == sec_type and e[1] == key:
                if value is None:
                    self.entries.pop(i)
                else:
                    e[2] = value
                return self._save()
        if value is not None:
            self.entries.append([sec_type, key, value])
        return self._save()

    def _save(self) -> bool:
        try:
            with open(self.path, "w") as f:
                json.dump([[t, k.hex(), v.hex()] for t, k, v in self.entries], f)
            return True
        except OSError:
            return False


class BleLink(Link):
    kind = "ble"

    def __init__(self, device) -> None:
        super().__init__(device, _FRAME_MAX, data_slots=8, response_slots=4, event_slots=8)
        self.parser = P.RequestParser()
        self.ble = _ble()  # the singleton; activated by the link's task
        self.conn = _NO_CONN
        self.mtu = _DEFAULT_MTU
        self.encrypted = False
        self.is_bonded = False
        self.host_ready = False  # the host has sent a request on this connection
        self.advertising = False
        self.requests_overflow = 0  # writes that found every request slot full
        self.view_misses = 0  # frames deferred from a heap-locked flush to the link's task
        self._req = [bytearray(_REQ_BUF) for _ in range(_REQ_SLOTS)]
        self._req_len = [0] * _REQ_SLOTS
        self._req_conn = [_NO_CONN] * _REQ_SLOTS
        self._req_head = 0
        self._req_n = 0
        self._connected_irq = _NO_CONN  # what the IRQs saw; the task catches up
        self._mtu_irq = _DEFAULT_MTU
        self._mtu_applied = 0
        self._flag = asyncio.ThreadSafeFlag()
        self._battery = bytearray(1)
        self._battery_last = -1
        self._h_data = self._h_control = self._h_events = self._h_info = self._h_battery = 0
        root = device.config.path
        cut = root.rfind("/")
        self.bonds = BondStore((root[: cut + 1] if cut >= 0 else "") + BONDS_FILE)
        self._service = bluetooth.UUID(_EMG_UUID)

    # -- the contract ---------------------------------------------------------------------
    def frame_budget(self) -> int:
        n = self.mtu - 3
        return n if n < _FRAME_MAX else _FRAME_MAX

    def secure(self) -> bool:
        # Data and events wait for the host's first request on this connection as well: a
        # host subscribes before it talks, and notifications sent before that are dropped by
        # its stack (then only a RESEND would bring them back).
        return self.connected and self.encrypted and self.host_ready

    def bonded(self) -> bool:
        return self.secure() and self.is_bonded

    def bad_requests(self) -> int:
        return self.parser.bad_requests()

    def enter_repl(self) -> bool:
        return False

    def transmit(self, kind: int, slot, n: int) -> bool:
        conn = self.conn
        if conn == _NO_CONN:
            return False
        if kind == KIND_DATA:
            q = self.data
            handle = self._h_data
        elif kind == KIND_EVENT:
            q = self.events
            handle = self._h_events
        else:
            q = self.responses
            handle = self._h_control
        try:
            view = q.view()  # cached per slot and length: steady streaming allocates nothing
        except MemoryError:
            # A frame length this slot has not carried yet, with the heap locked: the link's
            # own task (heap unlocked) sends it on its next flush.
            self.view_misses += 1
            return False
        try:
            self.ble.gatts_notify(conn, handle, view)
        except OSError:
            # ENOMEM: NimBLE's buffers are full; ENOTCONN: the IRQ telling us is on its way.
            return False
        return True

    # -- IRQs: record and wake the task -----------------------------------------------------
    def _irq(self, event: int, data):
        if event == _IRQ_GATTS_WRITE:
            conn, handle = data
            if handle == self._h_control:
                value = self.ble.gatts_read(handle)
                if self._req_n >= _REQ_SLOTS:
                    self.requests_overflow += 1
                else:
                    i = (self._req_head + self._req_n) % _REQ_SLOTS
                    n = len(value)
                    if n > _REQ_BUF:
                        n = _REQ_BUF
                    self._req[i][:n] = value[:n]
                    self._req_len[i] = n
                    self._req_conn[i] = conn
                    self._req_n += 1
        elif event == _IRQ_CENTRAL_CONNECT:
            self._connected_irq = data[0]
            self._mtu_irq = _DEFAULT_MTU
            self.encrypted = False
            self.is_bonded = False
            self.advertising = False
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self._connected_irq:
                self._connected_irq = _NO_CONN
            self.encrypted = False
            self.is_bonded = False
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] == self._connected_irq:
                self._mtu_irq = data[1]
        elif event == _IRQ_ENCRYPTION_UPDATE:
            conn, encrypted, _authenticated, bonded, _key_size = data
            if conn == self._connected_irq:
                self.encrypted = bool(encrypted)
                self.is_bonded = bool(bonded)
        elif event == _IRQ_GET_SECRET:
            sec_type, index, key = data
            return self.bonds.get(sec_type, index, bytes(key) if key is not None else None)
        elif event == _IRQ_SET_SECRET:
            sec_type, key, value = data
            return self.bonds.set(sec_type, bytes(key), bytes(value) if value is not None else None)
        self._flag.set()
        return None

    # -- setup --------------------------------------------------------------------------
    def _setup(self) -> None:
        dev = self.device
        ble = self.ble
        ble.active(True)
        ble.config(gap_name=dev.name, mtu=_WANTED_MTU, bond=True, le_secure=True, mitm=False, io=_IO_NO_INPUT_OUTPUT)
        ble.irq(self._irq)
        UUID = bluetooth.UUID
        emg = (
            self._service,
            (
                (UUID(_DATA_UUID), _FLAG_NOTIFY),
                (UUID(_CONTROL_UUID), _FLAG_WRITE | _FLAG_WRITE_NO_RESPONSE | _FLAG_NOTIFY),
                (UUID(_EVENTS_UUID), _FLAG_NOTIFY | _FLAG_INDICATE),
                (UUID(_INFO_UUID), _FLAG_READ),
            ),
        )
        dis = (
            UUID(0x180A),
            (
                (UUID(0x2A29), _FLAG_READ),
                (UUID(0x2A24), _FLAG_READ),
                (UUID(0x2A25), _FLAG_READ),
                (UUID(0x2A26), _FLAG_READ),
                (UUID(0x2A27), _FLAG_READ),
            ),
        )
        battery = (UUID(0x180F), ((UUID(0x2A19), _FLAG_READ | _FLAG_NOTIFY),))
        (h_emg, h_dis, h_bat) = ble.gatts_register_services((emg, dis, battery))
        self._h_data, self._h_control, self._h_events, self._h_info = h_emg
        self._h_battery = h_bat[0]
        ble.gatts_set_buffer(self._h_control, _REQ_BUF)
        for handle, text in zip(
            h_dis, (_MANUFACTURER, dev.board.NAME, dev.serial_number, dev.fw_version, dev.board.HW_REVISION)
        ):
            ble.gatts_write(handle, text.encode())
        self._update_info()
        self._update_battery()
        if self.bonds.problem:
            dev.log(2, self.bonds.problem)
        self._advertise()

    def _advertise(self) -> None:
        self.ble.gap_advertise(_ADV_INTERVAL_US, advertising_payload(self.device.name, self._service))
        self.advertising = True

    def _update_info(self) -> None:
        buf = bytearray(P.MAX_BODY)
        n = self.device.info_body(self, buf, 0)
        self.ble.gatts_write(self._h_info, bytes(buf[:n]))

    def _update_battery(self) -> None:
        pct = self.device.battery_pct
        if pct != self._battery_last:
            self._battery_last = pct
            self._battery[0] = pct
            self.ble.gatts_write(self._h_battery, self._battery, True)

    # -- the task -----------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Apply what the IRQs recorded: connection changes, MTU, queued requests."""
        irq_conn = self._connected_irq
        if irq_conn != self.conn:
            if self.conn != _NO_CONN:
                self.conn = _NO_CONN
                self.on_disconnect()
            if irq_conn != _NO_CONN:
                self.conn = irq_conn
                self.host_ready = False
                self.mtu = _DEFAULT_MTU
                self._mtu_applied = 0
                self.on_connect()
                try:
                    self.ble.gattc_exchange_mtu(irq_conn)
                except OSError:
                    pass  # already gone: the disconnect IRQ follows
            elif not self.advertising:
                self._advertise()
        if self.conn != _NO_CONN and self._mtu_irq != self._mtu_applied:
            self._mtu_applied = self._mtu_irq
            self.mtu = self._mtu_irq
            self._update_info()  # samples_per_frame in GET_INFO depends on the MTU
        while self._req_n and self.responses.free():
            i = self._req_head
            if self._req_conn[i] == self.conn:  # requests of a link that is gone are void
                self.host_ready = True
                self.device.on_request(self, self._req[i], 0, self._req_len[i])
            self._req_head = (i + 1) % _REQ_SLOTS
            self._req_n -= 1
        if self.requests_overflow:
            self.device.log(2, "BLE: %d requests arrived while %d were waiting; send fewer at once" % (self.requests_overflow, _REQ_SLOTS))
            self.requests_overflow = 0

    async def run(self) -> None:
        try:
            self._setup()
        except OSError as e:
            self.device.log(3, "BLE unavailable: %s" % e)
            return
        last_battery = self.device.board.ticks_ms()
        while not self.device.finished:
            try:
                await asyncio.wait_for(self._flag.wait(), 0.05)
            except asyncio.TimeoutError:
                pass
            self._catch_up()
            if self.conn != _NO_CONN:
                self.flush()
            now = self.device.board.ticks_ms()
            if self.device.board.ticks_diff(now, last_battery) >= _BATTERY_PERIOD_MS:
                last_battery = now
                self._update_battery()
