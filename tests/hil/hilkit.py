"""Helpers of the HIL suite: the host as users run it (muwatch.device.Device over the BLE
transport) and the bookkeeping that turns a stream into pass/fail facts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from muwatch.device import Device, DeviceEvent, LostRange, SampleBlock
from muwatch.transports.ble import BleTransport


@dataclass
class Collector:
    """A StreamListener that keeps everything the device reported."""

    blocks: list[SampleBlock] = field(default_factory=list)
    gaps: list[LostRange] = field(default_factory=list)
    events: list[DeviceEvent] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    def on_samples(self, block: SampleBlock) -> None:
        self.blocks.append(block)

    def on_event(self, event: DeviceEvent) -> None:
        self.events.append(event)

    def on_gap(self, lost: LostRange) -> None:
        self.gaps.append(lost)

    def on_link(self, state: str, detail: str) -> None:
        self.links.append((state, detail))

    def received(self) -> int:
        return sum(b.n for b in self.blocks)

    def coverage(self, n: int) -> np.ndarray:
        """How many times each index in [0, n) arrived (0 = missing, >1 = duplicate)."""
        seen = np.zeros(n, dtype=np.int64)
        for b in self.blocks:
            lo, hi = b.first_index, min(b.first_index + b.n, n)
            if hi > lo:
                seen[lo:hi] += 1
        return seen

    def lost_mask(self, n: int) -> np.ndarray:
        mask = np.zeros(n, dtype=bool)
        for g in self.gaps:
            mask[g.first : min(g.first + g.count, n)] = True
        return mask

    def samples(self, n: int, n_channels: int) -> np.ndarray:
        out = np.zeros((n, n_channels), dtype=np.int64)
        for b in self.blocks:
            hi = min(b.first_index + b.n, n)
            if hi > b.first_index:
                out[b.first_index : hi] = b.codes[: hi - b.first_index]
        return out

    def has_link_state(self, state: str) -> bool:
        return any(s == state for s, _ in self.links)


async def open_device(dut: Any, *, pair: bool = True, **kwargs: Any) -> tuple[Device, Collector]:
    """Connect as `muwatch stream` does: BLE transport, Device with reconnect and backfill."""
    dut.need_ble()
    transport = BleTransport(dut.ble_name, backend=dut.ble_backend, pair=pair)
    dev = Device(transport, connect_timeout=30.0, request_timeout=5.0, **kwargs)
    collector = Collector()
    dev.add_listener(collector)
    await dev.open()
    return dev, collector


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))
