# The firmware's BleLink (muwatch_fw/link/ble.py) on the `bluetooth` shim with a stand-in
# device: the link's own behaviour (GATT table, advertising, pacing, heap-locked flush,
# requests, NOT_PAIRED gate through secure()) without the sampler. Prints what it saw.
import asyncio
import sys

import micropython
from muwatch_fw import protocol as P
from muwatch_fw.link import HEADROOM
from muwatch_fw.link.ble import BleLink

ROOT = sys.argv[1]


class Board:
    NAME = "probe-board"
    HW_REVISION = "B"

    def ticks_ms(self):
        import time

        return time.ticks_ms()

    def ticks_diff(self, a, b):
        import time

        return time.ticks_diff(a, b)


class Cfg:
    path = ROOT + "/muwatch.json"


class Dev:
    name = "muw-PRB1"
    serial_number = "00112233PRB1"
    fw_version = "9.9.9"
    battery_pct = 64
    finished = False
    board = Board()
    config = Cfg()

    def __init__(self):
        self.up = 0
        self.down = 0
        self.requests = []

    def log(self, level, text):
        print("LOG", level, text)

    def info_body(self, link, buf, o):
        buf[o] = link.frame_budget() & 0xFF
        return o + 1

    def on_link_up(self, link):
        self.up += 1
        print("UP", self.up)

    def on_link_down(self, link):
        self.down += 1
        print("DOWN", self.down)

    def on_request(self, link, buf, off, n):
        self.requests.append(bytes(buf[off : off + n]))
        print("REQ", n, "secure", int(link.secure()))
        slot = link.responses.slot()
        slot[HEADROOM + P.RESPONSE_HEADER_LEN] = 0x5A
        link.responses.commit(P.write_response(slot, HEADROOM, 7, 1, 0, 1))


dev = Dev()
link = BleLink(dev)


def fill(first, n_frames, size):
    # frame number `first + k` written into every byte of frame k
    q = link.data
    k = 0
    while k < n_frames and q.slot() is not None:
        slot = q.slot()
        for i in range(size):
            slot[HEADROOM + i] = (first + k) & 0xFF
        q.commit(size)
        k += 1
    return k


def locked_flush():
    micropython.heap_lock()
    try:
        done = link.flush()
    finally:
        micropython.heap_unlock()
    return done


async def main():
    task = asyncio.create_task(link.run())
    while link.conn < 0 or link.mtu < 247:
        await asyncio.sleep_ms(10)
    print("CONNECTED budget", link.frame_budget())
    while not link.secure():
        await asyncio.sleep_ms(10)
    print("SECURE")
    sent = 0
    refusals = 0
    # 200 frames of 234 bytes through the stack, flushed heap-locked like the device's tick
    while sent < 200:
        sent += fill(sent, 200 - sent, 234)
        if not locked_flush():
            refusals += 1
        await asyncio.sleep_ms(2)
    while link.pending():
        if not locked_flush():
            refusals += 1
        await asyncio.sleep_ms(2)
    print("FLUSHED", sent, "refusals", refusals, "retries", link.retries)
    while link.conn >= 0:
        await asyncio.sleep_ms(20)
    await asyncio.sleep_ms(200)
    print("ADVERTISING", int(link.advertising), "up", dev.up, "down", dev.down)
    dev.finished = True
    await task


asyncio.run(main())
