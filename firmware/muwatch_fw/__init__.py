"""muwatch sensor firmware (MicroPython): see docs/firmware.md."""

VERSION = "0.1.0"
