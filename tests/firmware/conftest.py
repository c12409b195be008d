"""Fixtures of the firmware tests: MicroPython runs with the test harness on its path, and
the frames it prints decoded by the host's own protocol package (a cross-check of the
firmware encoder against the independent host decoder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from muwatch.protocol import DataFrame, EventFrame, ResponseFrame, decode_frame

HARNESS = Path(__file__).resolve().parent / "mp"


@dataclass
class FwRun:
    lines: list[str]
    frames: list[object]

    def data(self) -> list[DataFrame]:
        return [f for f in self.frames if isinstance(f, DataFrame)]

    def events(self) -> list[EventFrame]:
        return [f for f in self.frames if isinstance(f, EventFrame)]

    def responses(self) -> list[ResponseFrame]:
        return [f for f in self.frames if isinstance(f, ResponseFrame)]

    def value(self, key: str) -> str:
        for line in self.lines:
            if line.startswith(key + " "):
                return line[len(key) + 1 :]
        raise AssertionError(f"{key!r} not printed; output:\n" + "\n".join(self.lines[-30:]))


class Firmware:
    """Run a snippet with `from fwharness import *` available; decode printed frames."""

    def __init__(self, mp: object, tmp_path: Path) -> None:
        self.mp = mp
        self.root = tmp_path

    def run(self, code: str, heapsize: str = "1024k", timeout: float = 240.0) -> FwRun:
        import textwrap

        from muwatch.sim.device import compile_sim_modules

        body = textwrap.dedent(code)
        out = self.mp.run(  # type: ignore[attr-defined]
            f"ROOT = {str(self.root)!r}\n" + body,
            heapsize=heapsize,
            timeout=timeout,
            # the firmware as a sensor runs it: precompiled .mpy (as `make deploy` ships it)
            extra_path=[HARNESS, compile_sim_modules()],
        )
        lines = out.splitlines()
        frames = []
        for line in lines:
            if line.startswith("F "):
                _, _kind, hx = line.split(" ", 2)
                frames.append(decode_frame(bytes.fromhex(hx)))
        return FwRun(lines, frames)


@pytest.fixture
def fw(micropython, tmp_path) -> Firmware:
    return Firmware(micropython, tmp_path)
