"""The simulated device as a process: main.py unchanged on the simulated board, its stdio on
a pty or socket, talked to with pyserial and the host's decoder, deployed to with mpremote."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from muwatch import deploy  # noqa: E402
from muwatch.protocol import (  # noqa: E402
    EventCode,
    Status,
    build_configure,
    build_enter_repl,
    build_get_status,
    build_ping,
    build_reboot,
    build_start,
    build_stop,
)
from muwatch.sim.ads1299 import write_signal_source  # noqa: E402
from muwatch.sim.device import SimDevice, SimDeviceConfig  # noqa: E402
from simclient import Client, check_stream  # noqa: E402


@pytest.fixture
def source(tmp_path):
    rng = np.random.default_rng(11)
    codes = rng.integers(-(2**23), 2**23, size=(6000, 8), dtype=np.int64)
    stem = tmp_path / "src"
    write_signal_source(stem, codes, 2000.0, {"gain": 24})
    return stem, codes


def _stream(dev, url, rate, seconds):
    c = Client(url)
    c.sim = dev  # type: ignore[attr-defined]
    try:
        c.pump(0.5)
        assert c.request(build_configure(rate_hz=rate)).status == Status.OK
        assert c.request(build_start()).status == Status.OK
        c.pump(seconds)
        c.stats_while_streaming = c.sim.stats()  # type: ignore[attr-defined]
        stop = c.request(build_stop())
        next_index = int(np.frombuffer(stop.body, "<u4")[0])
        c.pump(0.5)
        return c, next_index
    finally:
        c.close()


@pytest.mark.slow
@pytest.mark.parametrize("rate", [2000, 4000])
def test_serial_stream_is_complete_and_bit_exact(source, rate):
    stem, codes = source
    with SimDevice(SimDeviceConfig(signal=stem)) as dev:
        url = dev.serve_pty()
        c, next_index = _stream(dev, url, rate, 4.0)
        stats = dev.stats()
    chk = check_stream(c, codes, next_index)
    assert next_index > 3.5 * rate
    assert chk.crc_errors == 0 and chk.mismatched == 0
    assert chk.lost == 0, f"{chk.lost} samples lost ({chk.overrun_reported} reported by OVERRUN)"
    heap_total = int(stats.get("heap_total", 0))
    assert 0 < int(stats["heap_high_water"]) <= heap_total
    # a steady stream allocates nothing (so no garbage collection can pause DRDY service)
    assert c.stats_while_streaming["alloc_last_s"] == 0  # type: ignore[attr-defined]


@pytest.mark.slow
def test_random_bytes_on_the_control_path_do_not_stop_streaming(source):
    stem, codes = source
    rnd = random.Random(3)
    with SimDevice(SimDeviceConfig(signal=stem)) as dev:
        c = Client(dev.serve_socket())
        try:
            c.pump(0.5)
            assert c.request(build_start()).status == Status.OK
            answered = 0
            t_end = time.monotonic() + 8.0
            while time.monotonic() < t_end:
                junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 400)))
                # 03 03 and 0D 03 are the documented REPL escape: not noise but a command
                junk = junk.replace(b"\x03", b"\x04")
                c.ser.write(junk)
                if rnd.random() < 0.3:
                    rid = c.send(build_ping())
                    c.wait_for(lambda rid=rid: any(r.request_id == rid for r in c.responses))
                    answered += 1
                c.pump(0.02)
            status = c.request(build_get_status())
            stop = c.request(build_stop())
            next_index = int(np.frombuffer(stop.body, "<u4")[0])
            c.pump(0.3)
        finally:
            c.close()
    assert answered > 10 and status.status == Status.OK
    bad_requests = int(np.frombuffer(status.body[26:28], "<u2")[0])
    assert bad_requests > 0  # the garbage was seen and counted
    chk = check_stream(c, codes, next_index)
    assert chk.mismatched == 0 and chk.crc_errors == 0
    assert chk.lost == chk.overrun_reported == 0


def test_reboot_restarts_the_firmware_behind_the_same_port():
    with SimDevice(SimDeviceConfig()) as dev:
        c = Client(dev.serve_pty())
        try:
            c.pump(0.5)
            assert c.request(build_reboot()).status == Status.OK
            c.wait_for(lambda: dev.restarts == 1)
            c.wait_for(
                lambda: sum(1 for e in c.events if e.code == EventCode.STATE) >= 2, timeout=15
            )
            assert c.request(build_ping()).status == Status.OK
        finally:
            c.close()
        assert dev.resets == [99]


def test_enter_repl_gives_the_port_to_mpremote_and_deploy_lands_in_the_flash(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    with SimDevice(SimDeviceConfig(root=flash)) as dev:
        url = dev.serve_socket()
        time.sleep(1.0)
        res = deploy.deploy(url, march="x64")
        assert res.entered_repl and res.reset
        assert set(res.copied) == {p.as_posix() for p in res.staged}
        assert (flash / "muwatch_fw" / "device.mpy").exists() and (flash / "main.py").exists()
        deadline = time.monotonic() + 20
        while dev.restarts < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        # the rebooted device runs the deployed modules; a second deploy copies nothing
        res2 = deploy.deploy(url, march="x64", reset=False)
        assert res2.copied == [] and len(res2.up_to_date) == len(res.staged)
        out = deploy.mpremote(
            url, "exec", "import muwatch_fw.device as d, boards; print(d.__file__, boards.__file__)"
        )
        assert "muwatch_fw/device.mpy" in out and "/firmware/" not in out


def test_the_repl_escape_bytes_leave_the_protocol():
    with SimDevice(SimDeviceConfig()) as dev:
        c = Client(dev.serve_pty())
        try:
            c.pump(0.5)
            c.ser.write(b"\x03\x03")
            time.sleep(0.5)
            c.ser.write(b"print(6*7)\r\n")
            time.sleep(0.5)
            out = c.ser.read(4096)
        finally:
            c.close()
    assert b"42" in out


def test_enter_repl_response_comes_before_the_prompt():
    with SimDevice(SimDeviceConfig()) as dev:
        c = Client(dev.serve_pty())
        try:
            c.pump(0.3)
            assert c.request(build_enter_repl()).status == Status.OK
            c.ser.write(b"\r\n")
            time.sleep(0.5)
            assert b">>> " in c.ser.read(4096)
        finally:
            c.close()


def test_cli_sim_device_serves_a_socket():
    proc = subprocess.run(
        [sys.executable, "-m", "muwatch.cli", "sim-device", "--socket", "0", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0 and "No module named muwatch.cli.__main__" in proc.stderr:
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "muwatch"),
                "sim-device",
                "--socket",
                "0",
                "--duration",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("socket://127.0.0.1:")


def test_cli_sim_device_rejects_bad_arguments(tmp_path):
    exe = str(Path(sys.executable).parent / "muwatch")
    both = subprocess.run([exe, "sim-device"], capture_output=True, text=True, timeout=30)
    assert both.returncode == 2 and "choose one of --serial or --socket" in both.stderr
    missing = subprocess.run(
        [exe, "sim-device", "--serial", "--signal", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 2 and "nope.i32 not found" in missing.stderr
