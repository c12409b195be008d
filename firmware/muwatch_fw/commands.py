"""Command handler: every request gets exactly one response; bad ones get an error, never a crash.

Opcodes, body layouts and status codes are docs/protocol.md section 5. Responses are written
straight into the requesting link's response slot; the serial link only hands over a
request when that queue has room, so no response is ever dropped.
"""

from . import protocol as P
from .link import HEADROOM
from .sampler import FAR, MASK30

_BODY = HEADROOM + P.RESPONSE_HEADER_LEN  # response body offset in a slot
_RATE_NAMES = ("250", "500", "1000", "2000", "4000", "8000", "16000")


class Commands:
    def __init__(self, device) -> None:
        self.dev = device
        self.handled = 0
        self.errors = 0

    # -- entry points -------------------------------------------------------------------
    def on_parsed(self, link, p) -> None:
        """A request from protocol.RequestParser (EV_FRAME or EV_BAD_FRAME) on `link`."""
        slot = link.responses.slot()
        if slot is None:  # the link broke its contract (see link/__init__.py); count it
            self.dev.responses_dropped += 1
            return
        self.handled += 1
        if p.status != P.OK:
            self._error(link, slot, P.NO_REQUEST_ID, 0, P.BAD_FRAME, P.error_text(p.error))
            return
        rid = p.request_id
        op = p.opcode
        st = P.check_request(op, p.body_len)
        if st == P.UNKNOWN_OPCODE:
            self._error(link, slot, rid, op, st, "unknown opcode 0x%02X (known: 0x01..0x%02X)" % (op, P.MAX_OPCODE))
            return
        if st == P.BAD_LENGTH:
            self._error(link, slot, rid, op, st, "body of %d bytes is the wrong length for opcode 0x%02X" % (p.body_len, op))
            return
        if not link.secure() and op != P.OP_GET_INFO and op != P.OP_PING:
            self._error(link, slot, rid, op, P.NOT_PAIRED, "link not encrypted: pair first (muwatch pair DEVICE)")
            return
        try:
            st, n = self._run(link, slot, op, p.frame, p.body_off, p.body_len)
        except Exception as e:  # the device keeps running whatever a handler did
            self.dev.log(3, "opcode 0x%02X failed: %s" % (op, e))
            st, n = P.INTERNAL, self._text(slot, "internal error: %s" % e)
        if st != P.OK:
            self.errors += 1
        link.responses.commit(P.write_response(slot, HEADROOM, rid, op, st, n))

    def _error(self, link, slot, rid: int, op: int, status: int, msg) -> None:
        self.errors += 1
        n = self._text(slot, msg)
        link.responses.commit(P.write_response(slot, HEADROOM, rid, op, status, n))

    @staticmethod
    def _text(slot, msg) -> int:
        b = msg.encode() if isinstance(msg, str) else msg
        n = len(b)
        if n > P.MAX_BODY:
            n = P.MAX_BODY
        P.put_bytes(slot, _BODY, b, n)
        return n

    # -- opcodes ------------------------------------------------------------------------
    def _run(self, link, slot, op: int, f, bo: int, bl: int):
        dev = self.dev
        if op == P.OP_GET_INFO:
            return P.OK, dev.info_body(link, slot, _BODY) - _BODY
        if op == P.OP_PING:
            dev.clock.now()
            return P.OK, P.put_u32(slot, _BODY, dev.clock.out_hi, dev.clock.out_lo) - _BODY
        if op == P.OP_START:
            err = dev.start_stream(link)
            if err:
                return P.BUSY, self._text(slot, err)
            return P.OK, P.put_u32(slot, _BODY, dev.start_hi, dev.start_lo) - _BODY
        if op == P.OP_STOP:
            if not dev.streaming:
                return P.BUSY, self._text(slot, "not streaming: START first")
            dev.stop_stream(P.STATE_REASON_COMMAND)
            s = dev.sampler
            return P.OK, P.put_u32(slot, _BODY, s.wire_hi(s.w_idx), s.w_idx & 0xFFFF) - _BODY
        if op == P.OP_CONFIGURE:
            return self._configure(slot, f, bo)
        if op == P.OP_GET_STATUS:
            return P.OK, dev.status_body(link, slot, _BODY) - _BODY
        if op == P.OP_SET_TIME:
            dev.host_time = bytes(f[bo : bo + 8])
            dev.clock.now()
            return P.OK, P.put_u32(slot, _BODY, dev.clock.out_hi, dev.clock.out_lo) - _BODY
        if op == P.OP_MARKER:
            if not dev.streaming:
                return P.BUSY, self._text(slot, "MARKER needs a running stream: START first")
            try:
                str(bytes(f[bo + 2 : bo + bl]), "utf-8")
            except UnicodeError:
                return P.BAD_VALUE, self._text(slot, "label is not valid UTF-8")
            s = dev.sampler
            s.snapshot()
            dev.markers += 1
            return P.OK, P.put_u32(slot, _BODY, s.wire_hi(s.s_idx), s.s_idx & 0xFFFF) - _BODY
        if op == P.OP_RESEND:
            return self._resend(link, slot, f, bo)
        if op == P.OP_REBOOT:
            dev.reboot_soon()
            return P.OK, 0
        if op == P.OP_ENTER_REPL:
            if not link.enter_repl():
                return P.UNSUPPORTED, self._text(slot, "ENTER_REPL works on the serial link only")
            return P.OK, 0
        return P.UNKNOWN_OPCODE, self._text(slot, "unknown opcode")

    def _configure(self, slot, f, bo: int):
        dev = self.dev
        rate, mask, gain, mode, fmt = f[bo], f[bo + 1], f[bo + 2], f[bo + 3], f[bo + 4]
        if dev.streaming:
            return P.BUSY, self._text(slot, "CONFIGURE while streaming: STOP first")
        if rate > 6:
            return P.BAD_VALUE, self._text(slot, "rate_code %d: allowed 0..6 (250..16000 Hz)" % rate)
        if P.RATES_HZ[rate] > dev.board.MAX_RATE_HZ:
            return P.BAD_VALUE, self._text(
                slot,
                "rate_code %d (%s Hz) above this board's %d Hz ceiling for per-sample reads in MicroPython"
                % (rate, _RATE_NAMES[rate], dev.board.MAX_RATE_HZ),
            )
        if mask == 0:
            return P.BAD_VALUE, self._text(slot, "channel_mask 0: at least one channel (bit 0 = channel 1)")
        if gain > 6:
            return P.BAD_VALUE, self._text(slot, "gain_code %d: allowed 0..6 (gain 1..24)" % gain)
        if mode > 3:
            return P.BAD_VALUE, self._text(slot, "mode %d: allowed 0 normal, 1 test signal, 2 lead-off check, 3 shorted" % mode)
        if fmt != P.FMT_24 and fmt != P.FMT_16:
            return P.BAD_VALUE, self._text(slot, "format 0x%02X: allowed 0x18 (24-bit) or 0x10 (16-bit)" % fmt)
        dev.apply_config(rate, mask, gain, mode, fmt, True)
        for i in range(5):
            slot[_BODY + i] = f[bo + i]
        return P.OK, 5

    def _resend(self, link, slot, f, bo: int):
        dev = self.dev
        s = dev.sampler
        fh, fl = P.get_u16(f, bo + 2), P.get_u16(f, bo)
        ch, cl = P.get_u16(f, bo + 6), P.get_u16(f, bo + 4)
        cap = s.cap
        if ch >= 0x4000:
            count = FAR
        else:
            count = (ch << 16) | cl
        if count == 0 or count > cap:
            return P.BAD_VALUE, self._text(slot, "count %s: allowed 1..%d (the ring capacity)" % ("0" if count == 0 else "too large", cap))
        s.snapshot()
        rel = s.rel(fh, fl)
        a = dev.framer.resend(link, rel, count)
        if dev.framer.q_busy:
            return P.BUSY, self._text(slot, "RESEND queue full (8 ranges): retry when frames arrive")
        qc = dev.framer.q_count
        o = _BODY
        if qc:
            x = (s.s_idx + a) & MASK30
            o = P.put_u32(slot, o, s.wire_hi(x), x & 0xFFFF)
        else:
            o = P.put_u32(slot, o, fh, fl)
        o = P.put_u32(slot, o, qc >> 16, qc & 0xFFFF)
        old = (s.s_idx + dev.framer.q_oldest) & MASK30  # the oldest sample it can still send
        o = P.put_u32(slot, o, s.wire_hi(old), old & 0xFFFF)
        o = P.put_u32(slot, o, s.wire_hi(s.s_idx), s.s_idx & 0xFFFF)
        return P.OK, o - _BODY
