"""Board definitions: pin maps as data plus the few board services the firmware needs.

`load(name)` returns a Board instance. Without a name: "xiao_esp32s3" on the ESP32 port,
"sim" (the simulated board of firmware/sim, unix port only) elsewhere.
"""

import sys


def default_name() -> str:
    return "xiao_esp32s3" if sys.platform == "esp32" else "sim"


def load(name=None):
    if not name:
        name = default_name()
    if name == "xiao_esp32s3":
        from boards.xiao_esp32s3 import Board

        return Board()
    if name == "sim":
        from board_sim import SimBoard  # type: ignore[import-not-found]  # firmware/sim only

        return SimBoard()
    raise ValueError("unknown board %r (known: xiao_esp32s3, sim)" % name)
