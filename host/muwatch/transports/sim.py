"""The simulated sensor as a transport: starts `muwatch.sim.device.SimDevice` (the real firmware
in MicroPython on the simulated board) on first open and talks to it over serial (socket://).

The simulated sensor keeps running across reconnects, like a real one; `close()` stops it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from muwatch.transports.base import TransportError
from muwatch.transports.serial import SerialTransport


class SimTransport(SerialTransport):
    """`DEVICE = sim[:SIGNAL_STEM]`: a simulated sensor started for this session."""

    def __init__(self, signal: str | Path | None = None, **config: Any) -> None:
        super().__init__("socket://127.0.0.1:0")
        self.signal = signal
        self.config = config
        self.description = "simulated sensor"
        self.sim: Any = None

    async def open(self, timeout: float = 10.0) -> None:
        if self.sim is None:
            from muwatch.sim.device import SimDevice, SimDeviceConfig

            def start() -> Any:
                sim = SimDevice(SimDeviceConfig(signal=self.signal, **self.config))
                try:
                    self.url = sim.serve_socket()
                except Exception:
                    sim.close()
                    raise
                return sim

            try:
                self.sim = await asyncio.get_running_loop().run_in_executor(None, start)
            except Exception as exc:
                if isinstance(exc, TransportError):
                    raise
                from muwatch.errors import MuwatchError

                if isinstance(exc, MuwatchError):
                    raise
                raise TransportError(f"cannot start the simulated sensor: {exc}") from exc
            self.description = f"simulated sensor {self.url}"
        await super().open(timeout)

    async def close(self) -> None:
        await super().close()
        sim, self.sim = self.sim, None
        if sim is not None:
            await asyncio.get_running_loop().run_in_executor(None, sim.close)
