"""Deploy staging (mpy-cross) and the flash tool's checks. Flashing itself needs a board
(hardware-in-the-loop); deploying for real to the simulated device is in test_sim_device."""

import subprocess
import sys

import pytest
from muwatch import deploy, flash
from muwatch.errors import UsageError


def test_stage_compiles_what_ships_and_nothing_from_the_simulator(tmp_path):
    out = deploy.stage(march="xtensawin", out=tmp_path / "stage")
    files = {p.as_posix() for p in deploy.staged_files(out)}
    assert {"main.py", "boot.py", "muwatch_fw/device.mpy", "muwatch_fw/protocol.mpy"} <= files
    assert "boards/xiao_esp32s3.mpy" in files and "boards/__init__.mpy" in files
    assert not any(f.startswith(("sim/", "machine", "simenv", "board_sim")) for f in files)
    assert not any(f.endswith(".py") for f in files - {"main.py", "boot.py"})
    mpy = (out / "muwatch_fw" / "framer.mpy").read_bytes()
    assert mpy[0] == ord("M")  # .mpy header
    # a module that disappeared from the firmware does not linger in the staging tree
    (out / "muwatch_fw" / "gone.mpy").write_bytes(b"M")
    deploy.stage(march="xtensawin", out=out)
    assert not (out / "muwatch_fw" / "gone.mpy").exists()


def test_unknown_board_and_march_are_usage_errors():
    with pytest.raises(UsageError, match="unknown board 'nope'; known: xiao_esp32s3"):
        deploy.stage(board="nope")
    with pytest.raises(UsageError, match="unknown -march"):
        deploy.compile_module(deploy.FIRMWARE_DIR / "main.py", deploy.BUILD_DIR / "x.mpy", "z80")


def test_deploy_without_a_port_says_how(capsys):
    assert deploy.main(["--port", ""]) == 2
    assert "make deploy PORT=" in capsys.readouterr().err


def test_deploy_to_a_port_that_is_not_there_is_a_device_error(capsys):
    assert deploy.main(["--port", "/dev/nonexistent-muwatch"]) == 3
    assert "cannot open /dev/nonexistent-muwatch" in capsys.readouterr().err


def test_flash_commands_with_an_image(tmp_path):
    img = tmp_path / "fw.bin"
    img.write_bytes(bytes([0xE9]) + b"\x00" * 100)
    lines = flash.flash("/dev/ttyACM0", img, dry_run=True)
    assert lines[0].endswith("--chip esp32s3 --port /dev/ttyACM0 --baud 460800 erase_flash")
    assert lines[1].endswith(f"write_flash -z 0x0 {img}")


def test_flash_without_an_image_uses_mpflash_for_the_psram_variant():
    (line,) = flash.flash("/dev/ttyACM0", None, dry_run=True)
    assert line.startswith("mpflash flash --serial /dev/ttyACM0 --board ESP32_GENERIC_S3")
    assert "--variant SPIRAM_OCT" in line


@pytest.mark.parametrize(
    "content,msg", [(b"", "first byte missing"), (b"UF2\n", "not an ESP32 firmware image")]
)
def test_flash_refuses_what_is_not_an_esp_image(tmp_path, content, msg):
    img = tmp_path / "fw.uf2"
    img.write_bytes(content)
    with pytest.raises(UsageError, match=msg):
        flash.flash("/dev/ttyACM0", img, dry_run=True)


def test_flash_refuses_the_simulator_and_missing_files(tmp_path):
    with pytest.raises(UsageError, match="not a USB serial port"):
        flash.flash("socket://127.0.0.1:5000", None, dry_run=True)
    with pytest.raises(UsageError, match="not found .download ESP32_GENERIC_S3"):
        flash.flash("/dev/ttyACM0", tmp_path / "missing.bin", dry_run=True)


def test_flash_module_entry_point_exit_codes(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "muwatch.flash", "--port", "socket://x:1", "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "not a USB serial port" in proc.stderr
