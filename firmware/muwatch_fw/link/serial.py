"""Serial link: the protocol over the REPL's stdio (USB-CDC on the XIAO ESP32S3, a pty or
socket on the simulated board), framed with the A5 5A sync bytes (docs/protocol.md 6).

While it speaks the protocol, Ctrl-C is disabled (micropython.kbd_intr(-1)) and nothing is
printed. It gives the port back to the REPL after an ENTER_REPL response, or at once on the
REPL escape bytes (0x03 0x03 or 0x0D 0x03 outside a frame, what mpremote sends). Input is
taken one byte at a time (waiting in asyncio, then draining what is ready), so the bytes
mpremote sends after its Ctrl-C stay unread for the REPL. A request is taken only while the
response queue has room, so every request gets its response.
"""

import select
import sys
import time

import asyncio
import micropython

from .. import protocol as P
from . import Link


class SerialLink(Link):
    kind = "serial"

    def __init__(self, device, inp=None, out=None) -> None:
        super().__init__(device, P.FRAME_BUDGET_SERIAL, data_slots=8, response_slots=4, event_slots=8)
        self.inp = inp if inp is not None else sys.stdin.buffer
        self.out = out if out is not None else sys.stdout.buffer
        self.parser = P.RequestParser()
        self._b1 = bytearray(1)
        self._poll = select.poll()
        self._poll.register(self.inp, select.POLLIN)
        self._partial = 0
        self.repl = False  # leave the protocol (escape bytes or ENTER_REPL sent)
        self._repl_after_flush = False
        self.bytes_in = 0

    def frame_budget(self) -> int:
        return P.FRAME_BUDGET_SERIAL

    def secure(self) -> bool:
        return True  # a cable is physical access

    def bad_requests(self) -> int:
        return self.parser.bad_requests()

    def enter_repl(self) -> bool:
        self._repl_after_flush = True
        return True

    def transmit(self, kind: int, slot, n: int) -> bool:
        """Sync bytes + frame in one write; a short write continues from where it stopped."""
        start = self._partial
        if start == 0:
            P.write_sync(slot, 0)
        total = n + 2
        w = self.out.write(slot, start, total - start)
        if w is None:
            w = 0
        if start + w < total:
            self._partial = start + w
            return False
        self._partial = 0
        return True

    # -- receiving ----------------------------------------------------------------------
    def feed(self, b: int) -> None:
        """One received byte through the parser; requests go to the device."""
        p = self.parser
        self.bytes_in += 1
        p.expire(time.ticks_ms())  # type: ignore[arg-type]  # the stubs' opaque tick type
        ev = p.feed_byte(b)
        while ev != P.EV_NONE:
            if ev == P.EV_FRAME or ev == P.EV_BAD_FRAME:
                self.device.on_parsed(self, p)
            elif ev == P.EV_REPL:
                self.repl = True
                return
            ev = p.next()

    def _ready(self) -> bool:
        for _ in self._poll.ipoll(0):
            return True
        return False

    async def run(self) -> None:
        micropython.kbd_intr(-1)
        self.on_connect()
        reader = asyncio.StreamReader(self.inp)
        b1 = self._b1
        try:
            while not self.repl:
                if self._repl_after_flush and self.responses.count == 0:
                    self.repl = True
                    break
                if self.responses.free() == 0 or self._repl_after_flush:
                    await asyncio.sleep_ms(2)  # back-pressure: answer before reading more
                    continue
                n = await reader.readinto(b1)
                if not n:
                    break  # end of input: nobody will talk to us on this port again
                self.feed(b1[0])
                k = 0
                while k < 256 and not self.repl and not self._repl_after_flush and self.responses.free() and self._ready():
                    if not self.inp.readinto(b1):
                        break
                    self.feed(b1[0])
                    k += 1
        finally:
            self.on_disconnect()
            micropython.kbd_intr(3)
