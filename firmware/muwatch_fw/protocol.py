"""muwatch wire protocol v1, device side: allocation-free encoder and request parser.

docs/protocol.md is the definition; tests/vectors/ holds the golden vectors this module is
checked against (tests/protocol/test_firmware_protocol.py runs it inside MicroPython).

Nothing here allocates once a module-level object exists: writers fill caller-owned
buffers, the parser keeps its own preallocated buffer and reports results in attributes.
Every function is safe to call with `micropython.heap_lock()` held.

u32 values travel as (hi16, lo16) pairs of small ints: the ESP32's small int is 31 bits,
so a u32 above 2**30 would be a heap-allocated big int.

Encoder (device -> host). Frames are written at `buf[off:]`; on serial put the two sync
bytes in front with `write_sync(buf, off - 2)`.
    crc16(buf, n) -> int                     CRC-16/CCITT-FALSE of buf[0:n]
    crc16_at(buf, off, n, crc) -> int        same over buf[off:off+n], continuing from crc
    write_data_header(buf, off, flags, fmt, seq, channel_mask, n_samples,
                      index_hi, index_lo, time_hi, time_lo) -> off + 16
        then the caller puts the payload at buf[off+16:] (copy_bytes, copy_24_to_16)
    finish_frame(buf, off, frame_len_without_crc) -> total_len (appends the CRC)
    write_event(buf, off, event_seq, code, body_len) -> total_len   (body at buf[off+6:])
    write_response(buf, off, request_id, opcode, status, body_len) -> total_len
                                                                     (body at buf[off+7:])
    write_request(buf, off, request_id, opcode, body_len) -> total_len  (tests and tools)
    write_sync(buf, off) -> off + 2
    data_frame_len(n_channels, n_samples, fmt) -> bytes of a data frame
    samples_per_frame(budget, n_channels, fmt) -> whole samples that fit the budget (<= 255)
    popcount8(mask) -> channels in a channel mask
Body helpers, each returning the offset after what it wrote:
    put_u8(buf, off, v), put_u16(buf, off, v), put_u32(buf, off, hi, lo),
    put_bytes(buf, off, src, n), put_str(buf, off, src, n) (u8 length + bytes),
    copy_bytes(dst, doff, src, soff, n) -> doff + n (viper; what the framer copies with),
    copy_24_to_16(dst, doff, src, soff, n_values) -> doff + 2*n_values (top 16 bits of each
    big-endian 24-bit code: the 16-bit format)
Readers for request bodies: get_u8(buf, off), get_u16(buf, off) (a u32 is
get_u16(buf, off + 2), get_u16(buf, off) as hi, lo).

Requests (host -> device): `RequestParser`.
    Serial: `ev = p.feed(src, n, start)` copies bytes src[start:n] (as many as fit) into the
    parser and runs it until something happens; `p.pos` is the index in src after the last
    byte taken. Events: EV_NONE (need more bytes), EV_FRAME (a request is ready),
    EV_BAD_FRAME (a request-shaped frame failed its CRC: answer BAD_FRAME), EV_REPL (the REPL
    escape: leave the protocol). After an event call `feed` again (with the same src and
    start=p.pos, or `p.next()`) until it returns EV_NONE with p.pos == n. The loop:
        i = 0
        while True:
            ev = p.feed(src, n, i)
            i = p.pos
            if ev == EV_NONE and i >= n:
                break
            ... handle ev ...
    `p.feed_byte(b)` feeds one byte. `p.expire(now_ms)` discards a frame left incomplete for
    1 s (counted in truncated and bad_frames, its bytes as garbage). Resynchronisation follows docs/protocol.md section 6.
    BLE: `ev = p.parse_frame(src, n)` checks one whole write (no sync bytes).
    On EV_FRAME / EV_BAD_FRAME the result is in attributes, valid until the next call:
        p.status (OK or BAD_FRAME), p.request_id, p.opcode, p.frame (the buffer holding the
        frame: p.buf on serial, src on BLE), p.body_off, p.body_len (body is
        p.frame[p.body_off : p.body_off + p.body_len]), p.error (ERR_* code;
        error_text(p.error) is the message for the BAD_FRAME response body).
    Counters (small ints, saturating): garbage_bytes, garbage_runs, false_syncs,
    crc_errors, bad_frames (CRC errors, malformed BLE writes, expired partial frames),
    truncated, frames; `p.bad_requests()` is the u16 GET_STATUS figure.
    REPL escape (serial, outside any frame): two consecutive 0x03 bytes (Ctrl-C twice, old
    pyboard.py) or 0x0D 0x03 (what mpremote writes first: b"\\r\\x03"). The event comes at the
    0x03; a caller reading byte by byte (feed_byte) leaves what follows (mpremote's
    b"\\r\\x01") unread for the REPL, whereas feed() has already taken its whole chunk.
    check_request(opcode, body_len) -> OK, UNKNOWN_OPCODE or BAD_LENGTH.

Code generation: the viper functions compile for the unix port's x64 and, through
`mpy-cross -march=xtensawin`, for the ESP32-S3.
"""

import time

import micropython
from micropython import const

TYPE_CHECKING = False
if TYPE_CHECKING:  # viper's built-in pointer types, for type checkers only
    from _mpy_shed._mpy_builtins import ptr8, uint

# Versions and frame types (section 1).
VERSION = const(1)
T_DATA = const(0x01)
T_EVENT = const(0x02)
T_RESPONSE = const(0x03)
T_REQUEST = const(0x04)

SERIAL_SYNC0 = const(0xA5)
SERIAL_SYNC1 = const(0x5A)

# Data frame (section 2).
FLAG_LEAD_OFF = const(0x01)
FLAG_SATURATED = const(0x02)
FLAG_BATTERY_LOW = const(0x04)
FLAG_RESENT = const(0x08)
FLAG_TEST_MODE = const(0x10)
# GET_STATUS link_flags (section 5).
LINK_ENCRYPTED = const(0x01)
LINK_BONDED = const(0x02)
LINK_BATTERY_LOW = const(0x04)
LINK_USB_POWER = const(0x08)
FMT_24 = const(0x18)
FMT_16 = const(0x10)
DATA_HEADER_LEN = const(16)
DATA_OVERHEAD = const(18)
MAX_SAMPLES = const(255)
# Non-data frames.
EVENT_HEADER_LEN = const(6)
RESPONSE_HEADER_LEN = const(7)
REQUEST_HEADER_LEN = const(6)
MAX_BODY = const(160)
CRC_LEN = const(2)
MAX_REQUEST_LEN = const(168)  # 6 + 160 + 2
MAX_RESPONSE_LEN = const(169)  # 7 + 160 + 2
FRAME_BUDGET_SERIAL = const(244)

# Event codes (section 3).
EVT_LEAD_OFF = const(0x01)
EVT_BATTERY_LOW = const(0x02)
EVT_OVERRUN = const(0x03)
EVT_TRIGGER = const(0x04)
EVT_STATE = const(0x05)
EVT_LOG = const(0x06)
OVERRUN_MISSED = const(1)
OVERRUN_RING = const(2)
STATE_REASON_COMMAND = const(0)
STATE_REASON_BATTERY = const(1)
STATE_REASON_BOOT = const(2)
STATE_REASON_ERROR = const(3)
LOG_DEBUG = const(0)
LOG_INFO = const(1)
LOG_WARNING = const(2)
LOG_ERROR = const(3)

# Status codes (section 5).
OK = const(0)
UNKNOWN_OPCODE = const(1)
BAD_LENGTH = const(2)
BAD_VALUE = const(3)
BUSY = const(4)
NOT_PAIRED = const(5)
UNSUPPORTED = const(6)
INTERNAL = const(7)
BAD_FRAME = const(8)

# Opcodes (section 5).
OP_GET_INFO = const(0x01)
OP_START = const(0x02)
OP_STOP = const(0x03)
OP_CONFIGURE = const(0x04)
OP_GET_STATUS = const(0x05)
OP_SET_TIME = const(0x06)
OP_MARKER = const(0x07)
OP_RESEND = const(0x08)
OP_REBOOT = const(0x09)
OP_PING = const(0x0A)
OP_ENTER_REPL = const(0x0B)
MAX_OPCODE = const(0x0B)
NO_REQUEST_ID = const(0xFFFF)
MAX_MARKER_LABEL = const(64)

# CONFIGURE codes.
RATE_250 = const(0)
RATE_500 = const(1)
RATE_1000 = const(2)
RATE_2000 = const(3)
RATE_4000 = const(4)
RATE_8000 = const(5)
RATE_16000 = const(6)
RATES_HZ = (250, 500, 1000, 2000, 4000, 8000, 16000)
GAINS = (1, 2, 4, 6, 8, 12, 24)
MODE_NORMAL = const(0)
MODE_TEST_SIGNAL = const(1)
MODE_LEAD_OFF_CHECK = const(2)
MODE_SHORTED = const(3)
N_MODES = const(4)

# Parser events and error reasons.
EV_NONE = const(0)
EV_FRAME = const(1)
EV_BAD_FRAME = const(2)
EV_REPL = const(3)
ERR_NONE = const(0)
ERR_SHORT = const(1)
ERR_VERSION = const(2)
ERR_TYPE = const(3)
ERR_BODY_LEN = const(4)
ERR_LENGTH = const(5)
ERR_CRC = const(6)
ERR_INCOMPLETE = const(7)
_ERROR_TEXT = (
    b"",
    b"bad frame: shorter than the 8-byte minimum",
    b"bad frame: protocol version is not 1",
    b"bad frame: frame type is not REQUEST (0x04)",
    b"bad frame: body_len above 160",
    b"bad frame: length does not match 8 + body_len",
    b"bad frame: CRC mismatch",
    b"bad frame: incomplete after 1 s",
)

# Fixed request body lengths per opcode (index = opcode); -1 = variable (MARKER).
_BODY_LEN = (-2, 0, 0, 0, 5, 0, 8, -1, 8, 0, 0, 0)

_SAT = const(0x3FFFFFFF)
_CAP = const(512)
_EXPIRE_MS = const(1000)


def _make_crc_table() -> bytearray:
    """256 big-endian u16 entries of the CCITT table (bytes hi, lo per entry)."""
    t = bytearray(512)
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
            c &= 0xFFFF
        t[2 * i] = c >> 8
        t[2 * i + 1] = c & 0xFF
    return t


_CRC_TABLE = _make_crc_table()


@micropython.viper
def crc16_at(buf, off: int, n: int, crc: int) -> int:
    """CRC-16/CCITT-FALSE over buf[off:off+n] continuing from `crc` (0xFFFF to start)."""
    p = ptr8(buf)
    t = ptr8(_CRC_TABLE)
    i = off
    end = off + n
    while i < end:
        j = (((crc >> 8) ^ p[i]) & 0xFF) << 1
        crc = (((crc << 8) & 0xFF00) ^ (t[j] << 8) ^ t[j + 1]) & 0xFFFF
        i += 1
    return crc


def crc16(buf, n: int) -> int:
    """CRC-16/CCITT-FALSE of buf[0:n] (check value of b'123456789' is 0x29B1)."""
    return crc16_at(buf, 0, n, 0xFFFF)


@micropython.viper
def copy_bytes(dst, doff: int, src, soff: int, n: int) -> int:
    """dst[doff:doff+n] = src[soff:soff+n] without allocating (overlap-safe); -> doff + n."""
    d = ptr8(dst)
    s = ptr8(src)
    da = uint(d) + uint(doff)
    sa = uint(s) + uint(soff)
    if da <= sa or da >= sa + uint(n):
        i = 0
        while i < n:
            d[doff + i] = s[soff + i]
            i += 1
    else:
        i = n - 1
        while i >= 0:
            d[doff + i] = s[soff + i]
            i -= 1
    return doff + n


@micropython.viper
def copy_24_to_16(dst, doff: int, src, soff: int, n_values: int) -> int:
    """Write the top 16 bits of n_values big-endian 24-bit codes (format 0x10)."""
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n_values:
        d[doff] = s[soff]
        d[doff + 1] = s[soff + 1]
        doff += 2
        soff += 3
        i += 1
    return doff


@micropython.viper
def write_data_header(
    buf,
    off: int,
    flags: int,
    fmt: int,
    seq: int,
    channel_mask: int,
    n_samples: int,
    index_hi: int,
    index_lo: int,
    time_hi: int,
    time_lo: int,
) -> int:
    """Bytes 0..15 of a DATA frame at buf[off:]; -> off + 16 (where the payload goes)."""
    p = ptr8(buf)
    p[off] = 1
    p[off + 1] = 1
    p[off + 2] = flags
    p[off + 3] = fmt
    p[off + 4] = seq
    p[off + 5] = seq >> 8
    p[off + 6] = channel_mask
    p[off + 7] = n_samples
    p[off + 8] = index_lo
    p[off + 9] = index_lo >> 8
    p[off + 10] = index_hi
    p[off + 11] = index_hi >> 8
    p[off + 12] = time_lo
    p[off + 13] = time_lo >> 8
    p[off + 14] = time_hi
    p[off + 15] = time_hi >> 8
    return off + 16


@micropython.viper
def finish_frame(buf, off: int, frame_len_without_crc: int) -> int:
    """Append the CRC of buf[off:off+len]; -> the frame's total length."""
    p = ptr8(buf)
    t = ptr8(_CRC_TABLE)
    crc = 0xFFFF
    i = off
    end = off + frame_len_without_crc
    while i < end:
        j = (((crc >> 8) ^ p[i]) & 0xFF) << 1
        crc = (((crc << 8) & 0xFF00) ^ (t[j] << 8) ^ t[j + 1]) & 0xFFFF
        i += 1
    p[end] = crc
    p[end + 1] = crc >> 8
    return frame_len_without_crc + 2


def write_event(buf, off: int, event_seq: int, code: int, body_len: int) -> int:
    """EVENT frame around the body already at buf[off+6:]; -> total length with CRC."""
    buf[off] = VERSION
    buf[off + 1] = T_EVENT
    buf[off + 2] = event_seq & 0xFF
    buf[off + 3] = (event_seq >> 8) & 0xFF
    buf[off + 4] = code
    buf[off + 5] = body_len
    return finish_frame(buf, off, EVENT_HEADER_LEN + body_len)


def write_response(buf, off: int, request_id: int, opcode: int, status: int, body_len: int) -> int:
    """RESPONSE frame around the body already at buf[off+7:]; -> total length with CRC."""
    buf[off] = VERSION
    buf[off + 1] = T_RESPONSE
    buf[off + 2] = request_id & 0xFF
    buf[off + 3] = (request_id >> 8) & 0xFF
    buf[off + 4] = opcode
    buf[off + 5] = status
    buf[off + 6] = body_len
    return finish_frame(buf, off, RESPONSE_HEADER_LEN + body_len)


def write_request(buf, off: int, request_id: int, opcode: int, body_len: int) -> int:
    """REQUEST frame around the body at buf[off+6:] (for device-side tests and tools)."""
    buf[off] = VERSION
    buf[off + 1] = T_REQUEST
    buf[off + 2] = request_id & 0xFF
    buf[off + 3] = (request_id >> 8) & 0xFF
    buf[off + 4] = opcode
    buf[off + 5] = body_len
    return finish_frame(buf, off, REQUEST_HEADER_LEN + body_len)


def write_sync(buf, off: int) -> int:
    """The serial sync bytes A5 5A at buf[off:]; -> off + 2 (where the frame starts)."""
    buf[off] = SERIAL_SYNC0
    buf[off + 1] = SERIAL_SYNC1
    return off + 2


def put_u8(buf, off: int, v: int) -> int:
    buf[off] = v & 0xFF
    return off + 1


def put_u16(buf, off: int, v: int) -> int:
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF
    return off + 2


def put_u32(buf, off: int, hi: int, lo: int) -> int:
    """A u32 given as (hi16, lo16), little-endian."""
    buf[off] = lo & 0xFF
    buf[off + 1] = (lo >> 8) & 0xFF
    buf[off + 2] = hi & 0xFF
    buf[off + 3] = (hi >> 8) & 0xFF
    return off + 4


def put_bytes(buf, off: int, src, n: int) -> int:
    """n bytes of a bytes-like src (bytes, bytearray, memoryview, ASCII str)."""
    return copy_bytes(buf, off, src, 0, n)


def put_str(buf, off: int, src, n: int) -> int:
    """A u8 length then n bytes of src (GET_INFO strings); n is clipped to 255."""
    if n > 255:
        n = 255
    buf[off] = n
    return copy_bytes(buf, off + 1, src, 0, n)


def get_u8(buf, off: int) -> int:
    return buf[off]


def get_u16(buf, off: int) -> int:
    return buf[off] | (buf[off + 1] << 8)


def popcount8(mask: int) -> int:
    """Number of channels in a channel mask."""
    n = 0
    while mask:
        n += mask & 1
        mask >>= 1
    return n


def bytes_per_sample(fmt: int) -> int:
    """3 for format 0x18, 2 for 0x10, 0 for anything else."""
    if fmt == FMT_24:
        return 3
    if fmt == FMT_16:
        return 2
    return 0


def data_frame_len(n_channels: int, n_samples: int, fmt: int) -> int:
    return DATA_OVERHEAD + n_samples * n_channels * bytes_per_sample(fmt)


def samples_per_frame(budget: int, n_channels: int, fmt: int) -> int:
    """Whole samples per channel that fit a frame budget (BLE: MTU - 3; serial: 244)."""
    per = n_channels * bytes_per_sample(fmt)
    if per <= 0 or budget <= DATA_OVERHEAD:
        return 0
    n = (budget - DATA_OVERHEAD) // per
    return MAX_SAMPLES if n > MAX_SAMPLES else n


def check_request(opcode: int, body_len: int) -> int:
    """OK, UNKNOWN_OPCODE or BAD_LENGTH for a request's opcode and body length."""
    if opcode < 1 or opcode > MAX_OPCODE:
        return UNKNOWN_OPCODE
    want = _BODY_LEN[opcode]
    if want == -1:  # MARKER: u16 code + 0..64 label bytes
        if body_len < 2 or body_len > 2 + MAX_MARKER_LABEL:
            return BAD_LENGTH
        return OK
    return OK if body_len == want else BAD_LENGTH


def error_text(err: int) -> bytes:
    """Message for a BAD_FRAME response body (ERR_* code)."""
    if err < 0 or err >= len(_ERROR_TEXT):
        return _ERROR_TEXT[0]
    return _ERROR_TEXT[err]


class RequestParser:
    """Request frames from a serial byte stream (feed) or one BLE write (parse_frame).

    The buffer holds, from `_s`, the candidate frame (sync bytes included) up to `_k`,
    then bytes not examined yet up to `_m`. A failed candidate gives back all but its
    first byte to be examined again, which is the resynchronisation of section 6.
    """

    def __init__(self) -> None:
        self.buf = bytearray(_CAP)
        self._s = 0
        self._k = 0
        self._m = 0
        self._need = 0
        self._drop = 0
        self._prev = -1
        self._in_garbage = False
        self._t0 = 0
        self.pos = 0
        self.status = OK
        self.request_id = 0
        self.opcode = 0
        self.frame = self.buf
        self.body_off = 0
        self.body_len = 0
        self.error = ERR_NONE
        self.garbage_bytes = 0
        self.garbage_runs = 0
        self.false_syncs = 0
        self.crc_errors = 0
        self.bad_frames = 0
        self.truncated = 0
        self.frames = 0

    # -- results ---------------------------------------------------------------
    def _result(self, frame, off: int, err: int) -> int:
        self.frame = frame
        self.error = err
        if err:
            self.status = BAD_FRAME
            self.request_id = NO_REQUEST_ID
            self.opcode = 0
            self.body_off = off + REQUEST_HEADER_LEN
            self.body_len = 0
            if self.bad_frames < _SAT:
                self.bad_frames += 1
            return EV_BAD_FRAME
        self.status = OK
        self.request_id = frame[off + 2] | (frame[off + 3] << 8)
        self.opcode = frame[off + 4]
        self.body_off = off + REQUEST_HEADER_LEN
        self.body_len = frame[off + 5]
        if self.frames < _SAT:
            self.frames += 1
        return EV_FRAME

    def bad_requests(self) -> int:
        """Malformed input seen (bad frames + garbage runs), as GET_STATUS's u16."""
        n = self.bad_frames + self.garbage_runs
        return 0xFFFF if n > 0xFFFF else n

    # -- BLE: one write is one frame ----------------------------------------------
    def parse_frame(self, src, n: int) -> int:
        """Check one whole request frame src[0:n]; -> EV_FRAME or EV_BAD_FRAME."""
        if n < 2:
            return self._result(src, 0, ERR_SHORT)
        if src[0] != VERSION:
            return self._result(src, 0, ERR_VERSION)
        if src[1] != T_REQUEST:
            return self._result(src, 0, ERR_TYPE)
        if n < REQUEST_HEADER_LEN + CRC_LEN:
            return self._result(src, 0, ERR_SHORT)
        blen = src[5]
        if blen > MAX_BODY:
            return self._result(src, 0, ERR_BODY_LEN)
        if n != REQUEST_HEADER_LEN + CRC_LEN + blen:
            return self._result(src, 0, ERR_LENGTH)
        crc = crc16_at(src, 0, n - 2, 0xFFFF)
        if src[n - 2] != (crc & 0xFF) or src[n - 1] != (crc >> 8):
            if self.crc_errors < _SAT:
                self.crc_errors += 1
            return self._result(src, 0, ERR_CRC)
        return self._result(src, 0, ERR_NONE)

    # -- serial --------------------------------------------------------------------
    def feed_byte(self, b: int) -> int:
        """Feed one byte; -> an event (call next() until EV_NONE afterwards)."""
        self._compact()
        if self._m < _CAP:
            self.buf[self._m] = b
            self._m += 1
        else:  # the caller did not drain events with next(): the byte is lost, counted
            self._count_garbage(1)
        return self._run()

    def next(self) -> int:
        """Continue with the bytes already taken; -> an event."""
        self._compact()
        return self._run()

    def feed(self, src, n: int, start: int = 0) -> int:
        """Take bytes src[start:n] (as many as fit), run until an event; see p.pos."""
        self._compact()
        take = n - start
        room = _CAP - self._m
        if take > room:
            take = room
        if take > 0:
            copy_bytes(self.buf, self._m, src, start, take)
            self._m += take
            self.pos = start + take
        else:
            self.pos = start
        return self._run()

    def pending(self) -> int:
        """Bytes of an unfinished candidate frame plus bytes not examined yet."""
        return self._m - self._s

    def expire(self, now_ms: int) -> bool:
        """Discard a candidate frame left incomplete for 1 s (time.ticks_ms clock)."""
        if self._k == self._s or time.ticks_diff(now_ms, self._t0) < _EXPIRE_MS:
            return False
        n = self._k - self._s
        self._count_garbage(n)
        if self.truncated < _SAT:
            self.truncated += 1
        if self.bad_frames < _SAT:
            self.bad_frames += 1
        self._s = self._k
        self._need = 0
        self.error = ERR_INCOMPLETE
        return True

    def _compact(self) -> None:
        if self._drop:
            self._s += self._drop
            self._k = self._s
            self._drop = 0
        if self._s == self._m:
            self._s = self._k = self._m = 0
        elif self._s > 0 and self._m > _CAP - MAX_REQUEST_LEN - 2:
            n = self._m - self._s
            copy_bytes(self.buf, 0, self.buf, self._s, n)
            self._k -= self._s
            self._m = n
            self._s = 0

    def _count_garbage(self, n: int) -> None:
        if self.garbage_bytes < _SAT:
            self.garbage_bytes += n
        if not self._in_garbage:
            self._in_garbage = True
            if self.garbage_runs < _SAT:
                self.garbage_runs += 1

    def _fail(self) -> None:
        """The candidate at _s is not a frame: its first byte is garbage, rescan the rest."""
        self._count_garbage(1)
        self._prev = self.buf[self._s]
        self._s += 1
        self._k = self._s
        self._need = 0

    def _run(self) -> int:
        buf = self.buf
        m = self._m
        while self._k < m:
            s = self._s
            k = self._k
            if k == s:
                # Outside any frame: garbage until a sync byte; watch for the REPL escape.
                b = buf[k]
                if b != SERIAL_SYNC0:
                    self._count_garbage(1)
                    self._s = self._k = k + 1
                    if b == 0x03 and (self._prev == 0x03 or self._prev == 0x0D):
                        self._prev = -1
                        return EV_REPL
                    self._prev = b
                    continue
                # buf[k] is A5: a candidate frame starts.
                self._prev = -1
                self._k = k + 1
                self._t0 = time.ticks_ms()
                continue
            # Inside a candidate: examine byte k (position k - s of the candidate).
            pos = k - s
            b = buf[k]
            self._k = k + 1
            if pos == 1:
                if b != SERIAL_SYNC1:
                    self._fail()
            elif pos == 2:
                if b != VERSION:
                    self._false_sync()
            elif pos == 3:
                if b != T_REQUEST:
                    self._false_sync()
            elif pos == 7:
                if b > MAX_BODY:
                    self._false_sync()
                else:
                    self._need = 2 + REQUEST_HEADER_LEN + CRC_LEN + b
            elif pos > 7 and pos + 1 == self._need:
                f = s + 2
                flen = self._need - 2
                crc = crc16_at(buf, f, flen - 2, 0xFFFF)
                if buf[f + flen - 2] == (crc & 0xFF) and buf[f + flen - 1] == (crc >> 8):
                    self._drop = self._need
                    self._need = 0
                    self._in_garbage = False
                    return self._result(buf, f, ERR_NONE)
                if self.crc_errors < _SAT:
                    self.crc_errors += 1
                self._fail()
                return self._result(buf, f, ERR_CRC)
        return EV_NONE

    def _false_sync(self) -> None:
        if self.false_syncs < _SAT:
            self.false_syncs += 1
        self._fail()
