"""Make hardware/muwatch_hw importable: it is a build tool of the hardware folder, not part of
the installed muwatch package."""

from __future__ import annotations

import sys
from pathlib import Path

HARDWARE = Path(__file__).resolve().parents[2] / "hardware"
if str(HARDWARE) not in sys.path:
    sys.path.insert(0, str(HARDWARE))
