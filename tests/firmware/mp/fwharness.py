"""MicroPython-side test harness: the real firmware on the simulated board in virtual time.

Runs inside the unix port (tests put this folder on MICROPYPATH). A CaptureLink stands in
for a host link: it records or checks every frame the firmware sends; requests are handed
to the device exactly as the BLE link does (device.on_request). Time only moves when a
test calls run(), so a minute of sampling is repeatable and takes seconds.
"""

import os

import simenv
from simenv import MODE_VIRTUAL, world

world.mode = MODE_VIRTUAL

from board_sim import SimBoard  # noqa: E402
from muwatch_fw import protocol as P  # noqa: E402
from muwatch_fw.device import Device  # noqa: E402
from muwatch_fw.link import HEADROOM, KIND_DATA, KIND_EVENT, Link  # noqa: E402


class CaptureLink(Link):
    """A host link in memory. keep=True stores frames; keep=False only checks them
    (CRC, data index continuity, seq continuity) with small ints, so it can run while the
    heap is locked."""

    kind = "capture"

    def __init__(self, dev, budget=244, secure=True, keep=True, data_slots=4):
        super().__init__(dev, budget, data_slots=data_slots)
        self.budget = budget
        self._secure = secure
        self.keep = keep
        self.frames = []
        self.refuse = False
        self.parser = P.RequestParser()
        self.req = bytearray(200)
        self.n_data = 0
        self.n_samples = 0
        self.n_resent = 0
        self.n_events = 0
        self.crc_bad = 0
        self.next_index = 0
        self.index_jumps = 0
        self.jumped = 0
        self.seq_next = 0
        self.seq_bad = 0
        self.event_codes = bytearray(256)

    def frame_budget(self):
        return self.budget

    def secure(self):
        return self._secure

    def bad_requests(self):
        return self.parser.bad_requests()

    def transmit(self, kind, slot, n):
        if self.refuse:
            return False
        if self.keep:
            self.frames.append((kind, bytes(slot[HEADROOM : HEADROOM + n])))
            return True
        crc = P.crc16_at(slot, HEADROOM, n - 2, 0xFFFF)
        if slot[HEADROOM + n - 2] != (crc & 0xFF) or slot[HEADROOM + n - 1] != (crc >> 8):
            self.crc_bad += 1
        if kind == KIND_DATA:
            o = HEADROOM
            seq = slot[o + 4] | (slot[o + 5] << 8)
            if seq != self.seq_next:
                self.seq_bad += 1
            self.seq_next = (seq + 1) & 0xFFFF
            ns = slot[o + 7]
            idx = slot[o + 8] | (slot[o + 9] << 8) | (slot[o + 10] << 16) | (slot[o + 11] << 24)
            if slot[o + 2] & P.FLAG_RESENT:
                self.n_resent += ns
            else:
                if idx != self.next_index:
                    self.index_jumps += 1
                    self.jumped += idx - self.next_index
                self.next_index = idx + ns
                self.n_samples += ns
            self.n_data += 1
        elif kind == KIND_EVENT:
            self.n_events += 1
            c = slot[HEADROOM + 4]
            if self.event_codes[c] < 255:
                self.event_codes[c] += 1
        return True

    def request(self, opcode, body=b"", rid=1):
        """Send one request frame the way the BLE link does; the response is queued."""
        b = self.req
        for i in range(len(body)):
            b[6 + i] = body[i]
        n = P.write_request(b, 0, rid, opcode, len(body))
        self.device.on_request(self, b, 0, n)
        self.device.tick()

    def take(self):
        """Frames recorded so far (then forgotten)."""
        f = self.frames
        self.frames = []
        return f


def make_device(
    root="", ring_bytes=62000, signal=None, secure=True, keep=True, budget=244, wdt_ms=0, ring=None
):
    """Board + Device + one CaptureLink, booted; config file in `root` (a test's tmp dir)."""
    if signal:
        os.putenv("MUWATCH_SIM_SIGNAL", signal)
    board = SimBoard()
    board.RING_BYTES = ring_bytes
    if root:
        try:
            with open(root + "/muwatch.json") as f:
                f.read()
        except OSError:
            with open(root + "/muwatch.json", "w") as f:
                f.write('{"wdt_ms": ' + str(wdt_ms) + "}")
    dev = Device(board, root=root, ring=ring)
    link = CaptureLink(dev, budget=budget, secure=secure, keep=keep)
    dev.links = [link]
    dev.boot()
    link.on_connect()
    dev.tick()
    return dev, link


def run(dev, us, step_us=2000):
    """Advance simulated time by `us`, running the main loop every step_us."""
    end = world.now + us
    while world.now < end:
        world.advance(step_us)
        dev.tick()


def hexframes(frames):
    """One line per frame: kind, hex bytes (the host decoder reads them back)."""
    for kind, fr in frames:
        print("F", kind, fr.hex())


def u32(v):
    return bytes((v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, (v >> 24) & 0xFF))


simenv  # noqa: B018  (re-exported for tests)
