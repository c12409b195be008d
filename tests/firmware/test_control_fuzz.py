"""A simulated minute of random bytes on the serial control path while streaming: the
device keeps streaming every sample and answers every valid command (virtual time, the
real SerialLink and RequestParser; the same check over a real pty is in test_sim_device)."""

import pytest

SCRIPT = """
from fwharness import *
import random
from muwatch_fw.link.serial import SerialLink

class Sink:
    def __init__(self):
        self.samples = 0
        self.next = 0
        self.jumps = 0
        self.ok = {}
        self.other = 0
    def write(self, buf, off, n):
        t = buf[3]
        if t == 1:
            ns = buf[9]
            idx = buf[10] | (buf[11] << 8) | (buf[12] << 16) | (buf[13] << 24)
            if idx != self.next:
                self.jumps += 1
            self.next = idx + ns
            self.samples += ns
        elif t == 3:
            rid = buf[4] | (buf[5] << 8)
            if rid != 0xFFFF:
                self.ok[rid] = buf[7]
            else:
                self.other += 1
        return n

dev, cap = make_device(ROOT, ring_bytes=62000)
sink = Sink()
link = SerialLink(dev, inp=open("/dev/null", "rb"), out=sink)
dev.links = [link]
link.on_connect()
req = bytearray(16)
def send(op, rid):
    n = P.write_request(req, 0, rid, op, 0)
    link.feed(0xA5)
    link.feed(0x5A)
    for i in range(n):
        link.feed(req[i])
send(P.OP_START, 1)
random.seed(SEED)
rids = []
rid = 100
step = 2000
t = 0
garbage = 0
while t < SECONDS * 1_000_000:
    for _ in range(BYTES_PER_STEP):
        b = random.getrandbits(8)
        if b == 3:
            b = 4  # 03 03 / 0D 03 is the documented REPL escape, a command, not noise
        link.feed(b)
        garbage += 1
    if t % 100_000 == 0:
        rid += 1
        send(P.OP_PING, rid)
        rids.append(rid)
    world.advance(step)
    dev.tick()
    t += step
send(P.OP_STOP, 2)
run(dev, 50_000)
answered = sum(1 for r in rids if sink.ok.get(r) == 0)
print("pings", len(rids), "answered", answered, "repl", link.repl)
print("samples", sink.samples, "next", dev.sampler.w_idx, "jumps", sink.jumps, "lost", dev.sampler.lost)
print("garbage", garbage, "bad_requests", link.bad_requests(), "bad_frame_responses", sink.other)
print("stop", sink.ok.get(2), "start", sink.ok.get(1))
"""


@pytest.mark.slow
def test_a_minute_of_random_control_bytes_while_streaming(fw):
    r = fw.run("SEED = 1\nSECONDS = 60\nBYTES_PER_STEP = 4\n" + SCRIPT, timeout=400)
    v = {line.split(" ", 1)[0]: line.split()[1:] for line in r.lines}
    pings, answered, repl = int(v["pings"][0]), int(v["pings"][2]), v["pings"][4]
    assert pings == 600 and answered == pings and repl == "False"
    samples, nxt, jumps, lost = (int(v["samples"][i]) for i in (0, 2, 4, 6))
    assert jumps == 0 and lost == 0 and samples == nxt and nxt > 59 * 2000
    assert int(v["garbage"][0]) == 120_000 and int(v["garbage"][2]) > 0
    assert v["stop"] == ["0", "start", "0"]  # STOP and START answered OK
