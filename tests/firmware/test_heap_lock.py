"""Sampling, framing and notifying allocate nothing: a full simulated minute at 8 ch x 2 kHz
with the heap locked around the DRDY handler and the main loop (the real SerialLink, its
writes checked by a sink), including every event kind the sampling path produces."""

import pytest

SCRIPT = """
_ring = bytearray(RING)  # first, as main.py does: the largest block
from fwharness import *
import micropython
from muwatch_fw import protocol as P
from muwatch_fw.link.serial import SerialLink

class Sink:
    # The host end of the port: checks each write (sync + one frame) with small ints only.
    def __init__(self):
        self.frames = 0
        self.samples = 0
        self.crc_bad = 0
        self.sync_bad = 0
        self.next = 0
        self.jumps = 0
        self.jumped = 0
        self.seq = 0
        self.seq_bad = 0
        self.events = bytearray(8)
        self.partial = 0
    def write(self, buf, off, n):
        if off != 0:
            self.partial += 1
        if buf[0] != 0xA5 or buf[1] != 0x5A:
            self.sync_bad += 1
        crc = P.crc16_at(buf, 2, n - 4, 0xFFFF)
        if buf[n - 2] != (crc & 0xFF) or buf[n - 1] != (crc >> 8):
            self.crc_bad += 1
        t = buf[3]
        if t == 1:
            seq = buf[6] | (buf[7] << 8)
            if seq != self.seq:
                self.seq_bad += 1
            self.seq = (seq + 1) & 0xFFFF
            ns = buf[9]
            idx = buf[10] | (buf[11] << 8) | (buf[12] << 16) | (buf[13] << 24)
            if idx != self.next:
                self.jumps += 1
                self.jumped += idx - self.next
            self.next = idx + ns
            self.samples += ns
            self.frames += 1
        elif t == 2:
            c = buf[6]
            if c < 8:
                self.events[c] += 1
        return n

dev, cap = make_device(ROOT, ring_bytes=RING, ring=_ring)
sink = Sink()
link = SerialLink(dev, inp=open("/dev/null", "rb"), out=sink)
dev.links = [link]
link.on_connect()
dev.apply_config(RATE, 0xFF, 6, 0, 0x18, False)
req = bytearray(16)
n = P.write_request(req, 0, 7, P.OP_START, 0)
link.feed(0xA5); link.feed(0x5A)
for i in range(n):
    link.feed(req[i])
dev.tick()
S = 1_000_000
t0 = world.now
world.scenario = [
    (t0 + 10 * S, {"lead_off": [1, 0]}),
    (t0 + 20 * S, {"lead_off": [0, 0]}),
    (t0 + 30 * S, {"stall_ms": 20}),
    (t0 + 40 * S, {"trigger": 1}),
    (t0 + 40 * S + 500_000, {"trigger": 0}),
    (t0 + 50 * S, {"battery_mv": 3400}),
]
world._scenario_i = 0

def minute(dev, step):
    world.heap_locked = True
    micropython.heap_lock()
    try:
        t = 0
        while t < SECONDS * 1_000_000:
            world.advance(step)
            dev.tick()
            t += step
        try:
            bytearray(1)
            probe = 0
        except MemoryError:
            probe = 1
    finally:
        micropython.heap_unlock()
        world.heap_locked = False
    return probe

probe = minute(dev, 2000)
print("probe", probe)
print("frames", sink.frames, "samples", sink.samples, "crc_bad", sink.crc_bad, "sync_bad", sink.sync_bad)
print("jumps", sink.jumps, "jumped", sink.jumped, "seq_bad", sink.seq_bad, "partial", sink.partial)
print("events", list(sink.events))
print("next", dev.sampler.w_idx, "lost", dev.sampler.lost, "ring_lost", dev.framer.ring_lost)
print("chip", dev.board.chip.conversions, dev.board.chip.missed)
print("battery_low", dev.battery_low)
"""


@pytest.mark.slow
@pytest.mark.parametrize("rate_code,seconds", [(3, 60), (4, 10)])
def test_sampling_framing_notify_allocate_nothing(fw, rate_code, seconds):
    ring = 620_000
    r = fw.run(
        f"RING = {ring}\nRATE = {rate_code}\nSECONDS = {seconds}\n" + SCRIPT,
        heapsize=str(ring + 128 * 1024 + 48 * 1024),
    )
    v = {line.split(" ", 1)[0]: line.split()[1:] for line in r.lines}
    assert v["probe"] == ["1"], "the heap was not locked during the run"
    frames, samples = int(v["frames"][0]), int(v["frames"][2])
    crc_bad, sync_bad = int(v["frames"][4]), int(v["frames"][6])
    jumps, jumped = int(v["jumps"][0]), int(v["jumps"][2])
    next_idx, lost, ring_lost = int(v["next"][0]), int(v["next"][2]), int(v["next"][4])
    conv, missed = int(v["chip"][0]), int(v["chip"][1])
    rate = 250 * 2**rate_code
    assert crc_bad == 0 and sync_bad == 0 and int(v["jumps"][4]) == 0  # seq continuous
    assert ring_lost == 0
    # every conversion is either delivered or reported missed, and nothing else
    assert conv == next_idx
    assert samples + missed >= next_idx - 2 * 9  # at most the last frame still in flight
    assert samples + missed <= next_idx
    assert seconds * rate - 10 <= conv <= seconds * rate  # minus the settling periods
    events = [int(x) for x in " ".join(v["events"]).strip("[]").split(",")]
    if seconds >= 60:
        # the 20 ms stall at 30 s: one hole, exactly the conversions the chip saw go unread
        assert missed == pytest.approx(20e-3 * rate, abs=1) and lost == missed
        assert jumps == 1 and jumped == missed
        assert events[3] == 1  # OVERRUN
        assert events[1] == 2  # LEAD_OFF on, off
        assert events[4] == 2  # TRIGGER rising, falling
        assert events[2] == 1  # BATTERY_LOW
        assert v["battery_low"] == ["True"]
    else:
        assert missed == 0 and jumps == 0
    assert frames == pytest.approx(samples / 9, abs=2)
