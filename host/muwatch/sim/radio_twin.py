"""The whole BLE twin: the simulated radio process plus the simulated sensor on it.

    with BleTwin() as twin:
        twin.hci        # "tcp-client:127.0.0.1:PORT": what a host opens (bumble:<hci> backend)
        twin.name       # "muw-E5F6": what the sensor advertises
        twin.control    # RadioControl spec (outages, refused connections, status)
        twin.serial     # the sensor's serial port too (socket://...)

`RadioProcess` runs `python -m muwatch.sim.radio` and reads the endpoints it prints; the
sensor (muwatch.sim.device.SimDevice, the firmware unchanged on the unix port) gets the
radio's firmware endpoint in MUWATCH_RADIO, which makes `import bluetooth` work there. The
radio's Bluetooth address is the sensor's unique id, as on an ESP32 whose BLE address
derives from its MAC, so the advertised name muw-XXXX matches the address.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

from muwatch.errors import DeviceError
from muwatch.sim.radio_link import LinkModel


@dataclass
class RadioOptions:
    """How the radio process models the air (see muwatch.sim.radio_link.LinkModel)."""

    interval_ms: float | None = None
    packets_per_event: int | None = None
    phy: str = "1M"
    loss: float = 0.0
    latency_ms: float = 0.0
    seed: int = 0
    tx_buffers: int = 12
    extra_args: list[str] = field(default_factory=list)

    def check(self) -> None:
        LinkModel(
            interval_s=self.interval_ms / 1000 if self.interval_ms else None,
            max_packets_per_event=self.packets_per_event,
            phy=self.phy,
            loss=self.loss,
            latency_s=self.latency_ms / 1000,
            seed=self.seed,
        )

    def argv(self) -> list[str]:
        args = ["--phy", self.phy, "--loss", str(self.loss), "--latency-ms", str(self.latency_ms)]
        args += ["--seed", str(self.seed), "--tx-buffers", str(self.tx_buffers)]
        if self.interval_ms:
            args += ["--interval-ms", str(self.interval_ms)]
        if self.packets_per_event:
            args += ["--packets-per-event", str(self.packets_per_event)]
        return args + list(self.extra_args)


def address_from_uid(uid: str) -> str:
    """The radio address for a sensor unique id (the last 6 bytes, MSB first)."""
    raw = bytes.fromhex(uid)[-6:].rjust(6, b"\0")
    return ":".join(f"{b:02X}" for b in raw)


class RadioProcess:
    """`python -m muwatch.sim.radio` as a child process; `endpoints` once started."""

    def __init__(self, address: str, options: RadioOptions | None = None) -> None:
        self.options = options or RadioOptions()
        self.options.check()
        self.address = address
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoints: dict[str, str] = {}

    def start(self, timeout: float = 30.0) -> dict[str, str]:
        argv = [sys.executable, "-m", "muwatch.sim.radio", "--address", self.address]
        self.proc = subprocess.Popen(
            argv + self.options.argv(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ),
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            if self.proc.poll() is not None:
                break
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        if not line.endswith(b"\n"):
            err = self.stderr_text()
            self.stop()
            raise DeviceError(f"the simulated radio did not start: {err.strip() or 'no output'}")
        self.endpoints = json.loads(line.decode())
        return dict(self.endpoints)

    def stderr_text(self) -> str:
        if self.proc is None or self.proc.stderr is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            os.set_blocking(self.proc.stderr.fileno(), False)
            data = self.proc.stderr.read() or b""
            return data.decode("utf-8", "replace")
        return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the radio process, from /proc."""
        if self.proc is None:
            return 0.0
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


class BleTwin:
    """The simulated sensor reachable over the simulated radio (and over serial)."""

    def __init__(self, device_config: Any = None, radio: RadioOptions | None = None) -> None:
        from muwatch.sim.device import SimDeviceConfig

        self.device_config = device_config or SimDeviceConfig()
        self.radio = RadioProcess(address_from_uid(self.device_config.uid), radio)
        self.device: Any = None
        self.serial = ""

    def start(self) -> BleTwin:
        from muwatch.sim.device import SimDevice

        endpoints = self.radio.start()
        cfg = replace(
            self.device_config,
            extra_env={**self.device_config.extra_env, "MUWATCH_RADIO": endpoints["firmware"]},
            bluetooth=True,  # the shim on the path and its heap in the simulation's allowance
        )
        try:
            self.device = SimDevice(cfg)
            self.serial = self.device.serve_socket(0)
        except BaseException:
            self.radio.stop()
            raise
        return self

    @property
    def hci(self) -> str:
        """bumble transport spec of the radio's HCI endpoint (use as bumble:<hci>)."""
        return self.radio.endpoints["hci"]

    @property
    def backend_spec(self) -> str:
        """What `--ble-backend` takes to reach this twin."""
        return f"bumble:{self.hci}"

    @property
    def control(self) -> str:
        return self.radio.endpoints["control"]

    @property
    def address(self) -> str:
        return self.radio.endpoints["address"]

    @property
    def name(self) -> str:
        return "muw-" + self.device_config.uid.upper()[-4:]

    def close(self) -> None:
        if self.device is not None:
            self.device.close()
            self.device = None
        self.radio.stop()

    def __enter__(self) -> BleTwin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
