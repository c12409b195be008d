# Runs INSIDE MicroPython (tests/protocol/test_firmware_protocol.py): checks
# firmware/muwatch_fw/protocol.py against the golden vectors and prints one line per case,
# "OK <name>" or "FAIL <name>: <why>", then "DONE <n>". VECTORS is set by the caller.
import json

from muwatch_fw import protocol as P

ERRS = {
    "ERR_SHORT": P.ERR_SHORT,
    "ERR_VERSION": P.ERR_VERSION,
    "ERR_TYPE": P.ERR_TYPE,
    "ERR_BODY_LEN": P.ERR_BODY_LEN,
    "ERR_LENGTH": P.ERR_LENGTH,
    "ERR_CRC": P.ERR_CRC,
}
EVNAME = {P.EV_FRAME: "FRAME", P.EV_BAD_FRAME: "BAD_FRAME", P.EV_REPL: "REPL"}
N = [0]


def load(name):
    with open(VECTORS + "/" + name) as f:  # noqa: F821 (VECTORS comes from the caller)
        return json.load(f)


def report(name, why):
    N[0] += 1
    print(("FAIL " + name + ": " + why) if why else ("OK " + name))


def same(buf, off, want):
    for i in range(len(want)):
        if buf[off + i] != want[i]:
            return f"byte {i}: got {buf[off + i]:02x} want {want[i]:02x}"
    return ""


def hi(v):
    return v >> 16


def lo(v):
    return v & 0xFFFF


def encode_data(buf, off, f, payload, via16):
    """Write a data frame from its fields through the firmware path; -> total length."""
    o = P.write_data_header(
        buf,
        off,
        f["flags"],
        f["fmt"],
        f["seq"],
        f["channel_mask"],
        f["n_samples"],
        hi(f["first_index"]),
        lo(f["first_index"]),
        hi(f["device_time_us"]),
        lo(f["device_time_us"]),
    )
    if via16 is not None:
        o = P.copy_24_to_16(buf, o, via16, 0, len(via16) // 3)
    else:
        o = P.copy_bytes(buf, o, payload, 0, len(payload))
    return P.finish_frame(buf, off, o - off)


def check_data(c, buf):
    f = c["fields"]
    want = bytes.fromhex(c["hex"])
    why = ""
    nch = P.popcount8(f["channel_mask"])
    if nch != len(f["channels"]):
        why = "popcount8"
    if P.data_frame_len(nch, f["n_samples"], f["fmt"]) != len(want):
        why = "data_frame_len {}".format(P.data_frame_len(nch, f["n_samples"], f["fmt"]))
    payload = want[16:-2]
    for off in (0, 2, 5):
        n = encode_data(buf, off, f, payload, None)
        if n != len(want):
            why = why or f"length {n} at off {off}"
        why = why or same(buf, off, want)
    # Serial: sync bytes then the frame.
    o = P.write_sync(buf, 0)
    encode_data(buf, o, f, payload, None)
    why = why or same(buf, 0, b"\xa5\x5a" + want)
    if f["fmt"] == P.FMT_16:
        # The 16-bit format from 24-bit codes: keep the top two bytes of each.
        src = bytearray(len(payload) // 2 * 3)
        for i in range(len(payload) // 2):
            src[3 * i] = payload[2 * i]
            src[3 * i + 1] = payload[2 * i + 1]
            src[3 * i + 2] = (i * 37) & 0xFF
        encode_data(buf, 0, f, None, src)
        why = why or same(buf, 0, want)
    return why


def info_body(buf, off, r):
    o = P.put_u8(buf, off, r["protocol_version"])
    o = P.put_u8(buf, o, r["max_channels"])
    o = P.put_u8(buf, o, r["rates_mask"])
    o = P.put_u8(buf, o, r["vref_decivolts"])
    o = P.put_u32(buf, o, hi(r["ring_capacity"]), lo(r["ring_capacity"]))
    o = P.put_u8(buf, o, r["samples_per_frame"])
    for k in ("firmware_version", "board", "serial_number", "device_name"):
        s = r[k].encode()
        o = P.put_str(buf, o, s, len(s))
    return o - off


def status_body(buf, off, r):
    o = P.put_u8(buf, off, r["streaming"])
    o = P.put_u8(buf, o, r["battery_percent"])
    o = P.put_u16(buf, o, r["battery_mv"])
    o = P.put_u8(buf, o, r["loff_p"])
    o = P.put_u8(buf, o, r["loff_n"])
    for k in ("next_index", "oldest_index", "lost_samples", "device_time_us"):
        o = P.put_u32(buf, o, hi(r[k]), lo(r[k]))
    o = P.put_u16(buf, o, r["bad_requests"])
    # link_flags from its named bits and the firmware's LINK_* constants (usb_power = bit 3)
    flags = 0
    for k, bit in (
        ("encrypted", P.LINK_ENCRYPTED),
        ("bonded", P.LINK_BONDED),
        ("battery_low", P.LINK_BATTERY_LOW),
        ("usb_power", P.LINK_USB_POWER),
    ):
        if r[k]:
            flags |= bit
    o = P.put_u8(buf, o, flags)
    c = r["config"]
    for k in ("rate_code", "channel_mask", "gain_code", "mode", "fmt"):
        o = P.put_u8(buf, o, c[k])
    return o - off


def check_event(c, buf):
    f = c["fields"]
    want = bytes.fromhex(c["hex"])
    body = bytes.fromhex(f["body"])
    P.put_bytes(buf, 3 + 6, body, len(body))
    n = P.write_event(buf, 3, f["event_seq"], f["code"], len(body))
    return (f"length {n}" if n != len(want) else "") or same(buf, 3, want)


def check_response(c, buf):
    f = c["fields"]
    want = bytes.fromhex(c["hex"])
    body = bytes.fromhex(f["body"])
    r = f.get("result")
    if f["op"] == "GET_INFO" and r:
        blen = info_body(buf, 1 + 7, r)
    elif f["op"] == "GET_STATUS" and r:
        blen = status_body(buf, 1 + 7, r)
    else:
        blen = P.put_bytes(buf, 1 + 7, body, len(body)) - 8
    if blen != len(body):
        return f"body length {blen} want {len(body)}"
    n = P.write_response(buf, 1, f["request_id"], f["opcode"], f["status"], blen)
    return (f"length {n}" if n != len(want) else "") or same(buf, 1, want)


def check_request(c, buf, parser):
    f = c["fields"]
    want = bytes.fromhex(c["hex"])
    body = bytes.fromhex(f["body"])
    P.put_bytes(buf, 6, body, len(body))
    n = P.write_request(buf, 0, f["request_id"], f["opcode"], len(body))
    why = (f"length {n}" if n != len(want) else "") or same(buf, 0, want)
    if P.check_request(f["opcode"], len(body)) != P.OK:
        why = why or "check_request refused a valid request"
    ev = parser.parse_frame(want, len(want))
    if ev != P.EV_FRAME or parser.status != P.OK:
        why = why or f"parse_frame: event {ev} error {parser.error}"
    elif (parser.request_id, parser.opcode, parser.body_len) != (
        f["request_id"],
        f["opcode"],
        len(body),
    ):
        why = why or "parse_frame fields"
    elif bytes(parser.frame[parser.body_off : parser.body_off + parser.body_len]) != body:
        why = why or "parse_frame body"
    return why


def run_stream(data, parser, mode):
    """Feed a byte stream; -> list of events as in streams.json."""
    evs = []

    def take(ev):
        if ev == P.EV_FRAME:
            body = bytes(parser.frame[parser.body_off : parser.body_off + parser.body_len])
            evs.append(["FRAME", parser.request_id, parser.opcode, body.hex()])
        elif ev == P.EV_BAD_FRAME:
            for k in ERRS:
                if ERRS[k] == parser.error:
                    evs.append(["BAD_FRAME", k])
        elif ev == P.EV_REPL:
            evs.append(["REPL"])

    if mode == "bytes":
        for b in data:
            ev = parser.feed_byte(b)
            while ev != P.EV_NONE:
                take(ev)
                ev = parser.next()
        return evs
    step = len(data) if mode == "whole" else mode
    start = 0
    while start < len(data):
        chunk = data[start : start + step]
        i = 0
        while True:
            ev = parser.feed(chunk, len(chunk), i)
            i = parser.pos
            if ev == P.EV_NONE and i >= len(chunk):
                break
            take(ev)
        start += step
    return evs


def check_stream(c):
    data = bytes.fromhex(c["hex"])
    e = c["expect"]
    for mode in ("whole", "bytes", 3, 7, 64):
        p = P.RequestParser()
        evs = run_stream(data, p, mode)
        if evs != e["events"]:
            return "mode {} events {} want {}".format(mode, evs, e["events"])
        got = (p.garbage_bytes, p.false_syncs, p.crc_errors)
        want = (e["garbage_bytes"], e["false_syncs"], e["crc_errors"])
        if got != want:
            return f"mode {mode} garbage/false_syncs/crc {got} want {want}"
        if p.frames != len(e["frames"]):
            return f"mode {mode} frames {p.frames}"
        if p.pending() != sum(n for _, n in e["truncated"]):
            return f"mode {mode} pending {p.pending()}"
    return ""


def main():
    fr = load("frames.json")
    report("crc_check", "" if P.crc16(b"123456789", 9) == fr["crc_check"]["crc16"] else "crc")
    buf = bytearray(7000)
    parser = P.RequestParser()
    for c in fr["frames"]:
        t = c["type"]
        if t == "DATA":
            why = check_data(c, buf)
        elif t == "EVENT":
            why = check_event(c, buf)
        elif t == "RESPONSE":
            why = check_response(c, buf)
        else:
            why = check_request(c, buf, parser)
        report(c["name"], why)
    for c in load("corrupt.json")["cases"]:
        if c["side"] != "device":
            continue
        data = bytes.fromhex(c["hex"])
        ev = parser.parse_frame(data, len(data))
        why = ""
        if ev != P.EV_BAD_FRAME or parser.status != P.BAD_FRAME:
            why = "accepted"
        elif parser.error != ERRS[c["fw_error"]]:
            why = "error {} want {}".format(parser.error, c["fw_error"])
        elif parser.request_id != 0xFFFF or parser.opcode != 0:
            why = "BAD_FRAME must carry id 0xFFFF, opcode 0"
        elif not P.error_text(parser.error):
            why = "no message"
        report("corrupt:" + c["name"], why)
    for c in load("streams.json")["cases"]:
        if c["direction"] == "host":
            report("stream:" + c["name"], check_stream(c))
    print("DONE", N[0])


main()
