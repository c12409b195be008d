"""Boot of the simulated board (what the ESP32 port does at reset): run boot.py then main.py
from the flash root (the working directory, where `make deploy` puts them), falling back to
the firmware tree. When main.py returns this process ends with 0 and the launcher starts
the REPL on the same port (host/muwatch/sim/device.py); a reset ends it with 99 or 98.
"""

import os
import sys

# Running a script puts its folder (firmware/sim, the sources) first on sys.path; a board
# has the flash root there. Modules come from MICROPYPATH: the root, then the .mpy cache.
if sys.path and sys.path[0] not in ("", "."):
    sys.path[0] = ""

def _find(name):
    for d in ("", os.getenv("MUWATCH_FIRMWARE_DIR") or ""):
        p = d + "/" + name if d else name
        try:
            os.stat(p)
            return p
        except OSError:
            pass
    return None


def _run(path):
    with open(path) as f:
        src = f.read()
    exec(src, {"__name__": "__main__", "__file__": path})


for _name in ("boot.py", "main.py"):
    _p = _find(_name)
    if _p:
        _run(_p)
del _name, _p
