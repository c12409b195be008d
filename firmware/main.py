"""muwatch sensor firmware: runs after boot.py, unchanged on the XIAO ESP32S3 and on the
simulated board (only the board module differs, see boards/). Returns to the REPL after
ENTER_REPL or the serial escape bytes. A crash while running is written to crash.txt and
the board resets; a crash while booting is written there too and leaves the REPL to the
developer (a boot loop would hide it).
"""

import sys

import boards
from muwatch_fw.config import Config


def _record(e) -> None:
    try:
        with open("crash.txt", "w") as f:
            sys.print_exception(e, f)
    except OSError:
        pass


def main() -> None:
    config = Config()
    config.load()
    board = boards.load(config.get("board"))
    ring = bytearray(board.RING_BYTES)  # first and once: the largest block (PSRAM)
    import asyncio

    from muwatch_fw.device import Device
    from muwatch_fw.link import make_links

    dev = Device(board, config=config, ring=ring)
    dev.links = make_links(dev)
    dev.boot()
    try:
        asyncio.run(dev.run())
    except Exception as e:  # never leave a sensor hanging on a bug: record it and restart
        _record(e)
        board.reset()


try:
    main()
except Exception as e:
    _record(e)
