"""Generate the golden vectors of wire protocol v1 (docs/protocol.md) into tests/vectors/*.json.

This is the third, independent encoding of the protocol: plain `struct` code written from the
document alone, sharing nothing with the firmware (firmware/muwatch_fw/protocol.py) or the host
(host/muwatch/protocol/). Both of those are tested against its output, byte for byte.
Expected decodings of corrupted input are stated by construction (where each byte was put),
not computed by a decoder. Run `python tests/vectors/make_vectors.py` and commit the JSON;
`--check` verifies the checked-in files are what this script produces.

Files:
  frames.json   every frame type, opcode and event with its fields (and edge values)
  corrupt.json  single frames (one BLE notification / write) that must be refused, and why
  streams.json  serial byte streams with garbage, false syncs, CRC errors, truncation
"""

from __future__ import annotations

import json
import random
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SYNC = b"\xa5\x5a"
RATES = [250, 500, 1000, 2000, 4000, 8000, 16000]
GAINS = [1, 2, 4, 6, 8, 12, 24]
MODES = ["normal", "test_signal", "lead_off_check", "shorted"]
OPS = {
    "GET_INFO": 1,
    "START": 2,
    "STOP": 3,
    "CONFIGURE": 4,
    "GET_STATUS": 5,
    "SET_TIME": 6,
    "MARKER": 7,
    "RESEND": 8,
    "REBOOT": 9,
    "PING": 10,
    "ENTER_REPL": 11,
}
STATUS = {
    "OK": 0,
    "UNKNOWN_OPCODE": 1,
    "BAD_LENGTH": 2,
    "BAD_VALUE": 3,
    "BUSY": 4,
    "NOT_PAIRED": 5,
    "UNSUPPORTED": 6,
    "INTERNAL": 7,
    "BAD_FRAME": 8,
}


def crc16(data: bytes) -> int:
    """Bitwise CRC-16/CCITT-FALSE straight from its definition (no table, no binascii)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


def ref_data(flags, fmt, seq, mask, first_index, time_us, samples) -> bytes:
    n_ch = bin(mask).count("1")
    assert samples and all(len(s) == n_ch for s in samples)
    head = struct.pack(
        "<BBBBHBBII", 1, 1, flags, fmt, seq, mask, len(samples), first_index, time_us
    )
    payload = bytearray()
    for row in samples:
        for v in row:
            if fmt == 0x18:
                payload += struct.pack(">i", v)[1:]
            else:
                payload += struct.pack(">h", v)
    return with_crc(head + bytes(payload))


def ref_event(event_seq: int, code: int, body: bytes) -> bytes:
    return with_crc(struct.pack("<BBHBB", 1, 2, event_seq, code, len(body)) + body)


def ref_response(request_id: int, opcode: int, status: int, body: bytes) -> bytes:
    return with_crc(struct.pack("<BBHBBB", 1, 3, request_id, opcode, status, len(body)) + body)


def ref_request(request_id: int, opcode: int, body: bytes) -> bytes:
    return with_crc(struct.pack("<BBHBB", 1, 4, request_id, opcode, len(body)) + body)


def s24(x: int) -> int:
    """The signed value of a 24-bit two's complement pattern."""
    return x - (1 << 24) if x >= 1 << 23 else x


def lstr(s: str) -> bytes:
    b = s.encode()
    return bytes([len(b)]) + b


# --------------------------------------------------------------------------------------
# frames.json
# --------------------------------------------------------------------------------------


def data_case(rng, name, *, flags=0, fmt=0x18, seq=0, mask=0xFF, n=9, first=0, t=0, values=None):
    n_ch = bin(mask).count("1")
    lo, hi = (-(1 << 23), (1 << 23) - 1) if fmt == 0x18 else (-(1 << 15), (1 << 15) - 1)
    if values is None:
        values = [[rng.randint(lo, hi) for _ in range(n_ch)] for _ in range(n)]
    frame = ref_data(flags, fmt, seq, mask, first, t, values)
    return {
        "name": name,
        "type": "DATA",
        "hex": frame.hex(),
        "fields": {
            "flags": flags,
            "fmt": fmt,
            "seq": seq,
            "channel_mask": mask,
            "channels": [i + 1 for i in range(8) if mask >> i & 1],
            "n_samples": len(values),
            "first_index": first,
            "device_time_us": t,
            "samples": values,
        },
    }


def event_case(name, event_seq, code, body, event):
    return {
        "name": name,
        "type": "EVENT",
        "hex": ref_event(event_seq, code, body).hex(),
        "fields": {"event_seq": event_seq, "code": code, "body": body.hex(), "event": event},
    }


def request_case(name, request_id, op, body, params):
    return {
        "name": name,
        "type": "REQUEST",
        "hex": ref_request(request_id, OPS[op], body).hex(),
        "fields": {
            "request_id": request_id,
            "opcode": OPS[op],
            "op": op,
            "body": body.hex(),
            "params": params,
        },
    }


def response_case(name, request_id, op, status, body, result=None, message=None):
    opcode = OPS[op] if op else 0
    fields = {
        "request_id": request_id,
        "opcode": opcode,
        "op": op,
        "status": STATUS[status],
        "status_name": status,
        "body": body.hex(),
    }
    if result is not None:
        fields["result"] = result
    if message is not None:
        fields["message"] = message
    return {
        "name": name,
        "type": "RESPONSE",
        "hex": ref_response(request_id, opcode, STATUS[status], body).hex(),
        "fields": fields,
    }


def configure_body(rate_code, mask, gain_code, mode, fmt) -> bytes:
    return struct.pack("<BBBBB", rate_code, mask, gain_code, mode, fmt)


def configure_params(rate_code, mask, gain_code, mode, fmt) -> dict:
    return {
        "rate_code": rate_code,
        "rate_hz": RATES[rate_code],
        "channel_mask": mask,
        "channels": [i + 1 for i in range(8) if mask >> i & 1],
        "gain_code": gain_code,
        "gain": GAINS[gain_code],
        "mode": mode,
        "mode_name": MODES[mode],
        "fmt": fmt,
    }


def info_body(info: dict) -> bytes:
    return struct.pack(
        "<BBBBIB",
        info["protocol_version"],
        info["max_channels"],
        info["rates_mask"],
        info["vref_decivolts"],
        info["ring_capacity"],
        info["samples_per_frame"],
    ) + b"".join(
        lstr(info[k]) for k in ("firmware_version", "board", "serial_number", "device_name")
    )


def status_body(st: dict) -> bytes:
    c = st["config"]
    return struct.pack(
        "<BBHBBIIIIHB",
        st["streaming"],
        st["battery_percent"],
        st["battery_mv"],
        st["loff_p"],
        st["loff_n"],
        st["next_index"],
        st["oldest_index"],
        st["lost_samples"],
        st["device_time_us"],
        st["bad_requests"],
        st["link_flags"],
    ) + configure_body(c["rate_code"], c["channel_mask"], c["gain_code"], c["mode"], c["fmt"])


def link_flag_names(flags: int) -> dict:
    """GET_STATUS link_flags bits by name (docs/protocol.md section 5)."""
    return {
        "encrypted": bool(flags & 1),
        "bonded": bool(flags & 2),
        "battery_low": bool(flags & 4),
        "usb_power": bool(flags & 8),
    }


def make_frames() -> list[dict]:
    rng = random.Random(20240502)
    out: list[dict] = []
    fs24 = [(1 << 23) - 1, -(1 << 23), 0, -1, 1, (1 << 23) - 2, -(1 << 23) + 1, 0x5A_A5_01]
    out.append(
        data_case(
            rng,
            "data_8ch_24bit_full_scale",
            flags=0x02,
            seq=1,
            first=9,
            t=2250,
            values=[fs24[i:] + fs24[:i] for i in range(9)],
        )
    )
    # Frame sizes the encoder picks at MTU 247 (244-byte budget), per channel count.
    for mask, n in ((0x01, 75), (0x03, 37), (0x0F, 18), (0xFF, 9)):
        nch = bin(mask).count("1")
        out.append(data_case(rng, f"data_{nch}ch_24bit_mtu247", mask=mask, n=n, seq=7, first=1000))
    out.append(data_case(rng, "data_8ch_16bit_mtu247", fmt=0x10, n=14, seq=3, first=42))
    out.append(
        data_case(
            rng,
            "data_2ch_16bit_full_scale",
            fmt=0x10,
            mask=0x81,
            values=[[32767, -32768], [-1, 0], [1, -32767]],
            first=5,
        )
    )
    out.append(data_case(rng, "data_seq_65535", seq=65535, first=4_000_000, n=9))
    out.append(data_case(rng, "data_seq_0_after_wrap", seq=0, first=4_000_009, n=9))
    out.append(
        data_case(
            rng,
            "data_index_near_2_32",
            seq=12,
            first=0xFFFFFFF8,
            t=0xFFFFFFFF,
            n=9,
        )
    )
    out.append(data_case(rng, "data_index_max", first=0xFFFFFFFF, t=0x80000000, n=1, mask=0x80))
    out.append(data_case(rng, "data_all_flags_resent", flags=0x1F, seq=300, first=77, n=4))
    out.append(data_case(rng, "data_mask_equals_sync_byte", mask=0xA5, n=5, first=3))
    out.append(data_case(rng, "data_max_size_8ch_255", n=255, seq=9, first=123456))
    out.append(data_case(rng, "data_max_size_1ch_16bit_255", fmt=0x10, mask=0x10, n=255))
    out.append(
        data_case(
            rng,
            "data_payload_contains_sync_pattern",
            mask=0x03,
            values=[[s24(0xA55A01), s24(0x01A55A)], [s24(0x5AA501), s24(0x04A55A)]],
            first=2,
        )
    )
    out.append(data_case(rng, "data_1ch_1sample", mask=0x04, n=1, values=[[-12345]]))

    # Events.
    out.append(
        event_case(
            "event_lead_off",
            0,
            1,
            struct.pack("<IBB", 123456, 0x81, 0x02),
            {"kind": "LEAD_OFF", "sample_index": 123456, "loff_p": 0x81, "loff_n": 0x02},
        )
    )
    out.append(
        event_case(
            "event_battery_low",
            1,
            2,
            struct.pack("<HB", 3412, 9),
            {"kind": "BATTERY_LOW", "millivolts": 3412, "percent": 9},
        )
    )
    out.append(
        event_case(
            "event_overrun_missed",
            2,
            3,
            struct.pack("<IIB", 0xFFFFFFF0, 32, 1),
            {"kind": "OVERRUN", "first_lost_index": 0xFFFFFFF0, "count": 32, "cause": 1},
        )
    )
    out.append(
        event_case(
            "event_overrun_ring",
            3,
            3,
            struct.pack("<IIB", 40000, 2000, 2),
            {"kind": "OVERRUN", "first_lost_index": 40000, "count": 2000, "cause": 2},
        )
    )
    out.append(
        event_case(
            "event_trigger_rising",
            4,
            4,
            struct.pack("<IIB", 5000, 0xFFFFFFFF, 1),
            {"kind": "TRIGGER", "sample_index": 5000, "device_time_us": 0xFFFFFFFF, "edge": 1},
        )
    )
    out.append(
        event_case(
            "event_trigger_falling",
            5,
            4,
            struct.pack("<IIB", 5010, 2500000, 0),
            {"kind": "TRIGGER", "sample_index": 5010, "device_time_us": 2500000, "edge": 0},
        )
    )
    out.append(
        event_case(
            "event_state_stopped_battery",
            65535,
            5,
            struct.pack("<BIB", 0, 7_200_000, 1),
            {"kind": "STATE", "streaming": 0, "next_index": 7_200_000, "reason": 1},
        )
    )
    out.append(
        event_case(
            "event_state_streaming",
            0,
            5,
            struct.pack("<BIB", 1, 0, 0),
            {"kind": "STATE", "streaming": 1, "next_index": 0, "reason": 0},
        )
    )
    text = "config.json unreadable; defaults used"
    out.append(
        event_case(
            "event_log_warning",
            6,
            6,
            bytes([2]) + text.encode(),
            {"kind": "LOG", "level": 2, "text": text},
        )
    )
    long_text = ("µ-log " * 40)[:150]
    lt = long_text.encode()[:159]
    lt = lt.decode("utf-8", "ignore").encode()
    out.append(
        event_case(
            "event_log_max_body",
            7,
            6,
            bytes([3]) + lt + b"." * (159 - len(lt)),
            {"kind": "LOG", "level": 3, "text": lt.decode() + "." * (159 - len(lt))},
        )
    )
    out.append(event_case("event_unknown_code", 8, 0x7F, b"\x01\x02\x03", None))

    # Requests: every opcode.
    out.append(request_case("request_get_info", 0, "GET_INFO", b"", {}))
    out.append(request_case("request_start", 1, "START", b"", {}))
    out.append(request_case("request_stop", 2, "STOP", b"", {}))
    for rid, (rc, mask, gc, mode, fmt) in enumerate(
        [(3, 0xFF, 6, 0, 0x18), (0, 0x01, 0, 1, 0x10), (6, 0x81, 3, 2, 0x18), (4, 0x0F, 5, 3, 0x18)]
    ):
        out.append(
            request_case(
                f"request_configure_{RATES[rc]}hz_mask{mask:02x}_mode{mode}",
                10 + rid,
                "CONFIGURE",
                configure_body(rc, mask, gc, mode, fmt),
                configure_params(rc, mask, gc, mode, fmt),
            )
        )
    out.append(request_case("request_get_status", 20, "GET_STATUS", b"", {}))
    host_us = 1_767_225_600_123_456
    out.append(
        request_case(
            "request_set_time",
            21,
            "SET_TIME",
            struct.pack("<Q", host_us),
            {"host_time_us": host_us},
        )
    )
    out.append(
        request_case(
            "request_set_time_max",
            22,
            "SET_TIME",
            struct.pack("<Q", (1 << 64) - 1),
            {"host_time_us": (1 << 64) - 1},
        )
    )
    out.append(
        request_case(
            "request_marker_empty_label",
            23,
            "MARKER",
            struct.pack("<H", 0),
            {"code": 0, "label": ""},
        )
    )
    label = "MVC grip — 100 %"
    out.append(
        request_case(
            "request_marker_utf8",
            24,
            "MARKER",
            struct.pack("<H", 65535) + label.encode(),
            {"code": 65535, "label": label},
        )
    )
    label64 = "é" * 32  # 64 bytes of UTF-8: the maximum
    out.append(
        request_case(
            "request_marker_max_label",
            25,
            "MARKER",
            struct.pack("<H", 7) + label64.encode(),
            {"code": 7, "label": label64},
        )
    )
    out.append(
        request_case(
            "request_resend",
            26,
            "RESEND",
            struct.pack("<II", 0xFFFFFF00, 512),
            {"first_index": 0xFFFFFF00, "count": 512},
        )
    )
    out.append(request_case("request_reboot", 27, "REBOOT", b"", {}))
    out.append(request_case("request_ping_max_id", 0xFFFE, "PING", b"", {}))
    out.append(request_case("request_enter_repl", 28, "ENTER_REPL", b"", {}))

    # Responses: every opcode with OK, then every error status.
    info = {
        "protocol_version": 1,
        "max_channels": 8,
        "rates_mask": 0x1F,
        "vref_decivolts": 45,
        "ring_capacity": 20480,
        "samples_per_frame": 9,
        "firmware_version": "0.1.0",
        "board": "xiao_esp32s3",
        "serial_number": "3C84279A1B2C",
        "device_name": "muw-1B2C",
    }
    out.append(response_case("response_get_info", 0, "GET_INFO", "OK", info_body(info), info))
    out.append(
        response_case(
            "response_start",
            1,
            "START",
            "OK",
            struct.pack("<I", 0xFFFFFFFE),
            {"device_time_us": 0xFFFFFFFE},
        )
    )
    out.append(
        response_case(
            "response_stop", 2, "STOP", "OK", struct.pack("<I", 120000), {"next_index": 120000}
        )
    )
    cfg = (3, 0xFF, 6, 0, 0x18)
    out.append(
        response_case(
            "response_configure",
            10,
            "CONFIGURE",
            "OK",
            configure_body(*cfg),
            configure_params(*cfg),
        )
    )
    st = {
        "streaming": 1,
        "battery_percent": 87,
        "battery_mv": 4012,
        "loff_p": 0x01,
        "loff_n": 0x80,
        "next_index": 0xFFFFFFFF,
        "oldest_index": 0xFFFFB1DF,
        "lost_samples": 18,
        "device_time_us": 0x80000001,
        "bad_requests": 65535,
        "link_flags": 0x03,
        "config": configure_params(*cfg),
    }
    st |= link_flag_names(st["link_flags"])
    out.append(response_case("response_get_status", 20, "GET_STATUS", "OK", status_body(st), st))
    # On USB power (bit 3, CHARGE_STAT low) and battery low, encrypted but not bonded.
    st_usb = st | {"streaming": 0, "next_index": 5000, "oldest_index": 0, "link_flags": 0x0D}
    st_usb |= link_flag_names(st_usb["link_flags"])
    out.append(
        response_case(
            "response_get_status_usb_power", 22, "GET_STATUS", "OK", status_body(st_usb), st_usb
        )
    )
    out.append(
        response_case(
            "response_set_time",
            21,
            "SET_TIME",
            "OK",
            struct.pack("<I", 3_000_000_000),
            {"device_time_us": 3_000_000_000},
        )
    )
    out.append(
        response_case(
            "response_marker",
            24,
            "MARKER",
            "OK",
            struct.pack("<I", 4_294_000_000),
            {"sample_index": 4_294_000_000},
        )
    )
    out.append(
        response_case(
            "response_resend",
            26,
            "RESEND",
            "OK",
            struct.pack("<IIII", 0xFFFFFF00, 256, 0xFFFFFF00, 0x00000100),
            {
                "first_queued": 0xFFFFFF00,
                "count_queued": 256,
                "oldest_index": 0xFFFFFF00,
                "next_index": 0x100,
            },
        )
    )
    out.append(
        response_case(
            "response_resend_nothing_left",
            29,
            "RESEND",
            "OK",
            struct.pack("<IIII", 100, 0, 40000, 60000),
            {"first_queued": 100, "count_queued": 0, "oldest_index": 40000, "next_index": 60000},
        )
    )
    out.append(response_case("response_reboot", 27, "REBOOT", "OK", b"", {}))
    out.append(
        response_case(
            "response_ping", 0xFFFE, "PING", "OK", struct.pack("<I", 17), {"device_time_us": 17}
        )
    )
    out.append(response_case("response_enter_repl", 28, "ENTER_REPL", "OK", b"", {}))
    errors = [
        ("UNKNOWN_OPCODE", None, 30, "unknown opcode 0x42"),
        ("BAD_LENGTH", "CONFIGURE", 31, "CONFIGURE body must be 5 bytes, got 4"),
        ("BAD_VALUE", "CONFIGURE", 32, "rate_code 9 out of range: 0..6 (250..16000 Hz)"),
        ("BUSY", "START", 33, "already streaming"),
        ("NOT_PAIRED", "START", 34, "link not encrypted: pair first (muwatch pair DEVICE)"),
        ("UNSUPPORTED", "ENTER_REPL", 35, "ENTER_REPL is serial only"),
        ("INTERNAL", "GET_STATUS", 36, "battery ADC read failed: ETIMEDOUT"),
        ("BAD_FRAME", None, 0xFFFF, "bad frame: CRC mismatch"),
    ]
    for status, op, rid, msg in errors:
        name = f"response_error_{status.lower()}"
        if status == "UNKNOWN_OPCODE":
            # The opcode is echoed even when it is unknown.
            fr = ref_response(rid, 0x42, STATUS[status], msg.encode())
            out.append(
                {
                    "name": name,
                    "type": "RESPONSE",
                    "hex": fr.hex(),
                    "fields": {
                        "request_id": rid,
                        "opcode": 0x42,
                        "op": None,
                        "status": STATUS[status],
                        "status_name": status,
                        "body": msg.encode().hex(),
                        "message": msg,
                    },
                }
            )
            continue
        out.append(response_case(name, rid, op, status, msg.encode(), message=msg))
    long_msg = ("x" * 160)[:160]
    out.append(
        response_case(
            "response_error_max_body",
            37,
            "MARKER",
            "BAD_LENGTH",
            long_msg.encode(),
            message=long_msg,
        )
    )
    return out


# --------------------------------------------------------------------------------------
# corrupt.json: one unit each (a BLE notification, or a BLE write to Control)
# --------------------------------------------------------------------------------------


def make_corrupt(frames: list[dict]) -> list[dict]:
    by = {f["name"]: bytes.fromhex(f["hex"]) for f in frames}
    d8 = by["data_8ch_24bit_mtu247"]
    ev = by["event_lead_off"]
    rs = by["response_get_info"]
    rq = by["request_configure_2000hz_maskff_mode0"]
    out: list[dict] = []

    def add(name, data: bytes, kind: str, offset: int, side: str = "host", fw_error=None):
        case = {"name": name, "hex": data.hex(), "kind": kind, "offset": offset, "side": side}
        if fw_error:
            case["fw_error"] = fw_error
        out.append(case)

    def flip(b: bytes, i: int, mask: int = 0x01) -> bytes:
        x = bytearray(b)
        x[i] ^= mask
        return bytes(x)

    def recrc(b: bytes) -> bytes:
        return with_crc(b[:-2])

    # Device -> host (decode_frame).
    add("data_bad_crc_payload_bit", flip(d8, 100), "crc", len(d8) - 2)
    add("data_bad_crc_field", flip(d8, len(d8) - 1, 0x80), "crc", len(d8) - 2)
    add("data_bad_version", recrc(flip(d8, 0, 0x03)), "version", 0)
    add("data_version_zero", recrc(b"\x00" + d8[1:]), "version", 0)
    add("unknown_type_0x07", recrc(d8[:1] + b"\x07" + d8[2:]), "type", 1)
    add("request_sent_to_host", rq, "type", 1)
    add("data_bad_format", recrc(d8[:3] + b"\x20" + d8[4:]), "format", 3)
    add("data_mask_zero", recrc(d8[:6] + b"\x00" + d8[7:]), "channel_mask", 6)
    add("data_n_samples_zero", recrc(d8[:7] + b"\x00" + d8[8:]), "n_samples", 7)
    add("data_truncated_payload", d8[:-5], "length", len(d8) - 5)
    add("data_extra_byte", with_crc(d8[:-2] + b"\x00"), "length", len(d8))
    add("data_header_only", d8[:16], "short", 16)
    add("empty", b"", "short", 0)
    add("two_bytes", d8[:2], "short", 2)
    add("data_short_header", d8[:7], "short", 7)
    add("event_truncated", ev[:-1], "length", len(ev) - 1)
    add("event_bad_crc", flip(ev, 6), "crc", len(ev) - 2)
    add("event_body_len_too_big", recrc(ev[:5] + b"\xa1" + ev[6:]), "body_len", 5)
    add("response_body_len_too_big", recrc(rs[:6] + b"\xff" + rs[7:]), "body_len", 6)
    add("response_bad_crc", flip(rs, 10), "crc", len(rs) - 2)
    add("response_truncated", rs[:-3], "length", len(rs) - 3)
    add("two_frames_in_one_notification", ev + ev, "length", len(ev))
    add("serial_sync_in_notification", SYNC + ev, "version", 0)  # sync bytes never travel on BLE

    # Host -> device (firmware parse_frame; the host's decode_frame with REQUEST accepted).
    add("request_bad_crc", flip(rq, 7), "crc", len(rq) - 2, "device", "ERR_CRC")
    add("request_bad_version", recrc(b"\x02" + rq[1:]), "version", 0, "device", "ERR_VERSION")
    add("request_wrong_type", recrc(rq[:1] + b"\x03" + rq[2:]), "type", 1, "device", "ERR_TYPE")
    add("request_short", rq[:5], "short", 5, "device", "ERR_SHORT")
    add("request_empty", b"", "short", 0, "device", "ERR_SHORT")
    add("request_truncated", rq[:-1], "length", len(rq) - 1, "device", "ERR_LENGTH")
    add(
        "request_extra_bytes",
        with_crc(rq[:-2] + b"\x00\x00"),
        "length",
        len(rq),
        "device",
        "ERR_LENGTH",
    )
    add(
        "request_body_len_too_big",
        recrc(rq[:5] + b"\xa1" + rq[6:]),
        "body_len",
        5,
        "device",
        "ERR_BODY_LEN",
    )
    return out


# --------------------------------------------------------------------------------------
# streams.json: serial byte streams, expected outcome by construction
# --------------------------------------------------------------------------------------


class Stream:
    """Builds a byte stream while recording where every byte went."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.frames: list[dict] = []
        self.garbage: list[list[int]] = []
        self.truncated: list[list[int]] = []
        self.crc_errors = 0
        self.false_syncs = 0
        self.events: list[list] = []  # firmware parser events, in order

    def _garbage(self, n: int) -> None:
        off = len(self.data) - n
        if self.garbage and self.garbage[-1][0] + self.garbage[-1][1] == off:
            self.garbage[-1][1] += n
        else:
            self.garbage.append([off, n])

    def frame(self, frame: bytes) -> None:
        self.frames.append({"offset": len(self.data), "hex": frame.hex()})
        self.data += SYNC + frame
        if frame[1] == 4:
            body = frame[6:-2]
            rid = frame[2] | frame[3] << 8
            self.events.append(["FRAME", rid, frame[4], body.hex()])

    def junk(self, data: bytes, false_syncs: int = 0, crc_errors: int = 0, events=()) -> None:
        """Bytes that must all be skipped as garbage (the caller states why)."""
        self.data += data
        self._garbage(len(data))
        self.false_syncs += false_syncs
        self.crc_errors += crc_errors
        self.events.extend(events)

    def torn(self, data: bytes) -> None:
        self.truncated.append([len(self.data), len(data)])
        self.data += data

    def case(self, name: str, direction: str, note: str) -> dict:
        return {
            "name": name,
            "direction": direction,
            "note": note,
            "hex": self.data.hex(),
            "expect": {
                "frames": self.frames,
                "garbage": self.garbage,
                "garbage_bytes": sum(n for _, n in self.garbage),
                "crc_errors": self.crc_errors,
                "false_syncs": self.false_syncs,
                "truncated": self.truncated,
                "events": self.events,
            },
        }


def no_sync(rng: random.Random, n: int, avoid=(0xA5,)) -> bytes:
    return bytes(rng.choice([b for b in range(256) if b not in avoid]) for _ in range(n))


def clean_data(rng: random.Random, mask: int, n: int) -> bytes:
    """A data frame with no 0xA5 byte anywhere (so a corrupted copy holds no sync)."""
    n_ch = bin(mask).count("1")
    while True:
        values = [[rng.randint(-(1 << 23), (1 << 23) - 1) for _ in range(n_ch)] for _ in range(n)]
        f = ref_data(0, 0x18, rng.randint(0, 60000), mask, rng.randint(0, 10**6), 0, values)
        if 0xA5 not in f:
            return f


def make_streams(frames: list[dict]) -> list[dict]:
    rng = random.Random(77)
    by = {f["name"]: bytes.fromhex(f["hex"]) for f in frames}
    dev = [
        by["data_8ch_24bit_mtu247"],
        by["event_lead_off"],
        by["data_2ch_24bit_mtu247"],
        by["response_get_status"],
        by["data_payload_contains_sync_pattern"],
        by["data_8ch_16bit_mtu247"],
    ]
    req = [by[n] for n in ("request_ping_max_id", "request_configure_2000hz_maskff_mode0")]
    req += [by["request_marker_utf8"], by["request_resend"]]
    out: list[dict] = []

    s = Stream()
    for f in dev:
        s.frame(f)
    out.append(s.case("clean_device_stream", "device", "back-to-back frames of every kind"))

    s = Stream()
    s.junk(no_sync(rng, 13))
    for f in dev:
        s.frame(f)
        s.junk(no_sync(rng, rng.randint(1, 9)))
    out.append(s.case("garbage_between_frames", "device", "garbage (no 0xA5) around every frame"))

    s = Stream()
    s.frame(dev[0])
    s.junk(b"\xa5\x5a\x07\x01\x00", false_syncs=1)  # version 7
    s.frame(dev[1])
    s.junk(b"\xa5\x5a\x01\x09", false_syncs=1)  # unknown type 9
    s.frame(dev[2])
    s.junk(b"\xa5\x5a\x01\x04\x00\x00\x01\x00", false_syncs=1)  # REQUEST is not device->host
    s.frame(dev[3])
    out.append(
        s.case("false_syncs_version_type", "device", "sync followed by a bad version or type")
    )

    s = Stream()
    s.frame(dev[0])
    s.junk(b"\xa5\x5a\x01\x01\x00\x18\x00\x00\x00\x09", false_syncs=1)  # channel_mask 0
    s.frame(dev[1])
    s.junk(b"\xa5\x5a\x01\x01\x00\x18\x00\x00\xff\x00", false_syncs=1)  # n_samples 0
    s.frame(dev[2])
    s.junk(b"\xa5\x5a\x01\x01\x00\x20\x00\x00\xff\x09", false_syncs=1)  # format 0x20
    s.frame(dev[3])
    s.junk(b"\xa5\x5a\x01\x02\x00\x00\x01\xa1", false_syncs=1)  # event body_len 161
    s.frame(dev[4])
    s.junk(b"\xa5\x5a\x01\x03\x00\x00\x01\x00\xa1", false_syncs=1)  # response body_len 161
    s.frame(dev[5])
    out.append(s.case("false_syncs_impossible_lengths", "device", "headers that cannot be"))

    s = Stream()
    s.frame(dev[0])
    bad = bytearray(clean_data(rng, 0x03, 37))
    bad[40] ^= 0x10
    assert 0xA5 not in bad
    s.junk(SYNC + bytes(bad), crc_errors=1)
    s.frame(dev[1])
    bad = bytearray(clean_data(rng, 0xFF, 9))
    bad[-1] ^= 0xFF
    if 0xA5 in bad:  # the flipped CRC byte itself
        bad[-1] ^= 0x0F
    assert 0xA5 not in bad
    s.junk(SYNC + bytes(bad), crc_errors=1)
    s.frame(dev[5])
    out.append(s.case("crc_errors", "device", "frames with a flipped bit are skipped whole"))

    # A false header whose claimed length swallows the start of a real frame: the CRC over
    # the claimed span fails, one byte is skipped, and the real frame is found inside it.
    s = Stream()
    s.frame(dev[1])
    fake = b"\xa5\x5a\x01\x02\x00\x00\x01\x14"  # EVENT, body_len 20: claims 28 + 2 bytes
    claimed = fake + (SYNC + dev[0])[: 2 + 8 + 20 - len(fake)]
    assert crc16(claimed[2:-2]) != struct.unpack("<H", claimed[-2:])[0]
    s.junk(fake, crc_errors=1)
    s.frame(dev[0])
    s.frame(dev[1])
    out.append(s.case("false_sync_swallowing_real_frame", "device", "resync inside a claim"))

    s = Stream()
    s.frame(dev[0])
    s.junk(b"\xa5\xa5\x33\xa5")  # lone sync bytes with no 0x5A after them
    s.frame(dev[1])
    s.junk(b"\x5a\x5a\xa5")
    s.frame(dev[2])
    out.append(s.case("lone_sync_bytes", "device", "0xA5 not followed by 0x5A is garbage"))

    s = Stream()
    s.frame(dev[0])
    s.frame(dev[1])
    s.torn((SYNC + dev[2])[:57])
    out.append(s.case("truncated_at_end", "device", "the last frame is cut by the end"))

    s = Stream()
    s.frame(dev[1])
    s.torn(SYNC + dev[0][:3])
    out.append(s.case("truncated_in_header", "device", "cut inside the header"))

    s = Stream()
    s.frame(dev[1])
    s.junk(b"\x00\xa5")
    out.append(s.case("trailing_lone_a5", "device", "a final 0xA5 alone is garbage, not a frame"))

    s = Stream()
    s.junk(no_sync(rng, 300))
    out.append(s.case("garbage_only", "device", "no frame at all"))

    s = Stream()
    s.frame(dev[0])
    s.frame(dev[0])
    s.frame(dev[2])
    s.frame(dev[0])
    out.append(
        s.case("duplicated_and_reordered", "device", "the decoder delivers frames as they come")
    )

    # Host -> device streams, checked by the firmware RequestParser (and the host decoder
    # when it accepts REQUEST frames). Events list what the firmware parser reports.
    s = Stream()
    for f in req:
        s.frame(f)
    out.append(s.case("requests_clean", "host", "requests back to back"))

    s = Stream()
    s.junk(no_sync(rng, 5, avoid=(0xA5, 0x03, 0x0D)))
    s.frame(req[0])
    s.junk(b"\xa5\x5a\x02\x04", false_syncs=1)  # version 2
    s.frame(req[1])
    s.junk(b"\xa5\x5a\x01\x01", false_syncs=1)  # DATA is not host->device
    s.frame(req[2])
    s.junk(b"\xa5\x5a\x01\x04\x00\x00\x05\xa1", false_syncs=1)  # body_len 161
    s.frame(req[3])
    s.junk(no_sync(rng, 4, avoid=(0xA5, 0x03, 0x0D)))
    out.append(s.case("requests_garbage_false_syncs", "host", "garbage and false syncs"))

    s = Stream()
    s.frame(req[0])
    good = ref_request(0x0111, OPS["RESEND"], struct.pack("<II", 0x01020408, 0x10))
    for pos in range(6, len(good)):
        bad = bytearray(good)
        bad[pos] ^= 0x40
        # Rescanned as garbage after the CRC error: no sync, no REPL escape inside.
        if not any(b in bad for b in (0xA5, 0x03, 0x0D)):
            break
    else:
        raise AssertionError("no clean corruption found")
    s.junk(SYNC + bytes(bad), crc_errors=1, events=[["BAD_FRAME", "ERR_CRC"]])
    s.frame(good)
    s.frame(req[1])
    out.append(s.case("requests_crc_error", "host", "a request with a bad CRC: BAD_FRAME"))

    s = Stream()
    s.frame(req[0])
    s.junk(b"\r\x03", events=[["REPL"]])
    out.append(s.case("repl_escape_mpremote", "host", "mpremote writes \\r\\x03 then \\r\\x01"))

    s = Stream()
    s.junk(b"\x03\x03", events=[["REPL"]])
    out.append(s.case("repl_escape_double_ctrl_c", "host", "Ctrl-C twice outside a frame"))

    s = Stream()
    ping3 = ref_request(0x0303, OPS["PING"], b"")  # a request whose id is 03 03
    assert ping3[2:4] == b"\x03\x03"
    s.frame(ping3)
    s.junk(b"\x03\x41")
    s.frame(req[0])
    out.append(s.case("no_escape_inside_frames", "host", "0x03 bytes inside frames never escape"))
    return out


def build() -> dict[str, object]:
    frames = make_frames()
    return {
        "frames.json": {
            "protocol_version": 1,
            "crc_check": {"ascii": "123456789", "crc16": crc16(b"123456789")},
            "frames": frames,
        },
        "corrupt.json": {"cases": make_corrupt(frames)},
        "streams.json": {"cases": make_streams(frames)},
    }


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, content in build().items():
        text = json.dumps(content, indent=1, ensure_ascii=False) + "\n"
        path = HERE / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent.parent)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python tests/vectors/make_vectors.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
