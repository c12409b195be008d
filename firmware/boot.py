"""Runs first at every boot: room for exception details raised inside hard IRQ handlers."""

import micropython

if hasattr(micropython, "alloc_emergency_exception_buf"):
    micropython.alloc_emergency_exception_buf(128)
