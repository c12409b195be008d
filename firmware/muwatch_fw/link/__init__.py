"""Links: the paths between the sensor and a host. The contract every link implements.

A link is one of: `serial.SerialLink` (USB-CDC/UART stdio, always present) and
`ble.BleLink` (GATT server on the low-level `bluetooth` module, present when the port has
`bluetooth`). `make_links(device)` builds them; main.py runs each link's `run()` task.

How a link talks to the device (muwatch_fw.device.Device), all calls allocation-free:

Receiving
    BLE: every write to Control goes to ``device.on_request(link, buf, off, n)``:
    buf[off:off+n] is one request frame. The device checks it with the link's own
    ``link.parser`` (a protocol.RequestParser the link creates; parse_frame) and answers
    with exactly one RESPONSE queued on the same link (BAD_FRAME for a malformed write).
    Serial: the link runs protocol.RequestParser.feed over the byte stream itself and hands
    each EV_FRAME / EV_BAD_FRAME to ``device.on_parsed(link, parser)``.
    Either way a link hands over a request only while ``link.responses.free() > 0``
    (otherwise it keeps the request, or stops reading, until a response has been sent), so
    no response is ever dropped. ``link.bad_requests()`` (usually
    ``parser.bad_requests()``) is what GET_STATUS reports.

Sending (never dropped, never reordered)
    A link owns three FrameQueues of preallocated slots: ``events``, ``responses`` and
    ``data``. A producer (framer, command handler, event writer) asks ``q.slot()`` for a
    free bytearray (None = queue full: back-pressure, the producer tries again later;
    samples stay in the ring buffer meanwhile), writes ONE frame starting at offset
    HEADROOM (2, room for the serial sync bytes) and calls ``q.commit(n)`` with the
    frame's length. Sequence counters are the link's: a data frame carries
    ``link.data_seq`` and an event ``link.event_seq``; the producer calls
    ``link.next_data_seq()`` / ``link.next_event_seq()`` as it writes one.
    ``link.flush()`` (called by the device's main task after producing, and again on
    every tick of it, which is the "retry later") sends queued frames in the order
    events, responses, data, each queue in FIFO order, through the subclass's
    ``transmit(kind, slot, n) -> bool``; False means the stack refused (ENOMEM,
    congested, a short write): the same frame stays at the head and is retried on the
    next flush. ``q.view()`` gives a memoryview of exactly the head frame (cached per
    slot and length, so a steady stream of equal-length frames allocates nothing).

Frame budget
    ``link.frame_budget()`` is the largest frame the link carries in one piece: serial
    244 bytes (protocol.FRAME_BUDGET_SERIAL), BLE ATT_MTU - 3 (20 before the MTU
    exchange). The framer reads it for every frame it starts and fills the frame with as
    many whole samples as fit (protocol.samples_per_frame).

Connection and security state
    ``link.connected`` is True while a host is there to send to (serial: while the
    firmware speaks the protocol on the port; BLE: while a central is connected). A link
    calls ``self.on_connect()`` / ``self.on_disconnect()`` (base-class helpers) when that
    changes: sequence counters restart at 0, queues are cleared, and the device is told
    (``device.on_link_up(link)`` / ``device.on_link_down(link)``) so that streaming to a
    link that went away continues into the ring buffer, and live streaming resumes at
    the newest samples when it comes back.
    ``link.secure()`` is True when requests other than GET_INFO and PING may run and
    data/event frames may be sent: always on serial (a cable is physical access); on BLE
    only over an encrypted link (else the device answers NOT_PAIRED and sends no data or
    events). ``link.bonded()`` and ``link.secure()`` fill GET_STATUS's link_flags.
    ``link.enter_repl()`` leaves the protocol for the MicroPython REPL: True on serial
    (after the ENTER_REPL response is sent), False on BLE (the device answers
    UNSUPPORTED).

Device facts a link may publish (BLE Info characteristic, DIS, Battery Service)
    ``device.info_body(link, buf, off) -> end`` writes the GET_INFO response body;
    ``device.name`` ("muw-XXXX" unless configured), ``device.serial_number``,
    ``device.fw_version``, ``device.board.NAME``, ``device.board.HW_REVISION``,
    ``device.battery_pct`` / ``device.battery_mv`` (updated every second),
    ``device.config.path`` (the flash root is its folder: bond keys go beside it).

Starting links (main.py)
    ``make_links(device)`` returns [SerialLink] plus a BleLink when ``import bluetooth``
    works, the config enables BLE and muwatch_fw/link/ble.py is present. Each link's
    ``async run()`` is a task of the device's event loop; it returns when the link is
    finished (serial: ENTER_REPL or the REPL escape bytes), which ends the firmware's
    main loop so that the REPL gets the port.
"""

from micropython import const

HEADROOM = const(2)  # bytes before every frame in a slot (serial sync A5 5A)

KIND_EVENT = const(0)
KIND_RESPONSE = const(1)
KIND_DATA = const(2)


class FrameQueue:
    """FIFO of preallocated frame slots; one frame per slot at offset HEADROOM."""

    def __init__(self, n_slots: int, frame_max: int) -> None:
        self.slots = [bytearray(frame_max + HEADROOM) for _ in range(n_slots)]
        self.lens = [0] * n_slots
        self._views = [memoryview(s) for s in self.slots]
        self._vlen = [-1] * n_slots
        self._vcache = list(self._views)
        self.n = n_slots
        self.head = 0
        self.count = 0
        self.frame_max = frame_max

    def slot(self):
        """A free slot to write the next frame into (at HEADROOM), or None when full."""
        if self.count >= self.n:
            return None
        i = self.head + self.count
        if i >= self.n:
            i -= self.n
        return self.slots[i]

    def commit(self, n: int) -> None:
        """Queue the frame of n bytes just written into the slot from slot()."""
        i = self.head + self.count
        if i >= self.n:
            i -= self.n
        self.lens[i] = n
        self.count += 1

    def peek(self):
        """The head slot (frame at HEADROOM, length head_len()), or None when empty."""
        if self.count == 0:
            return None
        return self.slots[self.head]

    def head_len(self) -> int:
        return self.lens[self.head] if self.count else 0

    def view(self):
        """memoryview of exactly the head frame (no sync bytes); cached per slot+length."""
        if self.count == 0:
            return None
        i = self.head
        n = self.lens[i]
        if self._vlen[i] != n:
            self._vcache[i] = self._views[i][HEADROOM : HEADROOM + n]
            self._vlen[i] = n
        return self._vcache[i]

    def pop(self) -> None:
        """Drop the head frame (it was sent)."""
        if self.count:
            self.head += 1
            if self.head >= self.n:
                self.head = 0
            self.count -= 1

    def free(self) -> int:
        return self.n - self.count

    def clear(self) -> None:
        self.head = 0
        self.count = 0


class Link:
    """Base class: queues, sequence counters, flush order and connection bookkeeping.

    Subclasses set `kind` ("serial"/"ble"), implement transmit(), frame_budget(),
    secure(), bonded(), enter_repl() and the async run() task.
    """

    kind = "link"

    def __init__(
        self, device, frame_max: int, data_slots: int = 4, response_slots: int = 4, event_slots: int = 8
    ) -> None:
        self.device = device
        self.events = FrameQueue(event_slots, 170)
        self.responses = FrameQueue(response_slots, 170)
        self.data = FrameQueue(data_slots, frame_max)
        self.connected = False
        self.data_seq = 0
        self.event_seq = 0
        self.sent_frames = 0
        self.retries = 0  # transmit() refusals (back-pressure), each retried later

    # -- what subclasses provide ---------------------------------------------------
    def transmit(self, kind: int, slot, n: int) -> bool:
        """Send one frame slot[HEADROOM:HEADROOM+n]; False = not now, retry later."""
        raise NotImplementedError

    def frame_budget(self) -> int:
        raise NotImplementedError

    def secure(self) -> bool:
        return True

    def bonded(self) -> bool:
        return False

    def enter_repl(self) -> bool:
        return False

    def bad_requests(self) -> int:
        return 0

    async def run(self) -> None:
        raise NotImplementedError

    # -- sequence counters ---------------------------------------------------------
    def next_data_seq(self) -> int:
        s = self.data_seq
        self.data_seq = (s + 1) & 0xFFFF
        return s

    def next_event_seq(self) -> int:
        s = self.event_seq
        self.event_seq = (s + 1) & 0xFFFF
        return s

    # -- sending -------------------------------------------------------------------
    def flush(self) -> bool:
        """Send queued frames (events, responses, then data) until the stack refuses.

        True when every queue is empty afterwards. Allocation-free (the notify path).
        """
        if not self._drain(self.events, KIND_EVENT):
            return False
        if not self._drain(self.responses, KIND_RESPONSE):
            return False
        return self._drain(self.data, KIND_DATA)

    def _drain(self, q, kind: int) -> bool:
        while q.count:
            if not self.transmit(kind, q.slots[q.head], q.lens[q.head]):
                self.retries += 1
                return False
            q.pop()
            self.sent_frames += 1
        return True

    def pending(self) -> int:
        return self.events.count + self.responses.count + self.data.count

    # -- connection bookkeeping ----------------------------------------------------
    def on_connect(self) -> None:
        self.data_seq = 0
        self.event_seq = 0
        self.events.clear()
        self.responses.clear()
        self.data.clear()
        self.connected = True
        self.device.on_link_up(self)

    def on_disconnect(self) -> None:
        self.connected = False
        self.events.clear()
        self.responses.clear()
        self.data.clear()
        self.device.on_link_down(self)


def make_links(device) -> list:
    """Serial always; BLE when the port has `bluetooth`, the config allows it and ble.py exists."""
    from .serial import SerialLink

    links: list = [SerialLink(device)]
    if device.config.get("ble"):
        import gc

        gc.collect()
        try:
            import bluetooth  # noqa: F401
        except ImportError:
            return links
        try:
            from .ble import BleLink  # type: ignore[import-not-found]
        except ImportError as e:
            device.log_later(2, "BLE link not available: " + str(e))
            return links
        links.append(BleLink(device))
    return links
