"""Flash MicroPython itself onto the sensor's ESP32-S3 (then `make deploy` the firmware).

    python -m muwatch.flash --port /dev/ttyACM0 --firmware ESP32_GENERIC_S3-SPIRAM_OCT.bin
    python -m muwatch.flash --port /dev/ttyACM0          (mpflash downloads the image)

With --firmware: esptool erases the flash and writes the image at 0x0 (MicroPython's
ESP32-S3 images start with the bootloader). Without it: mpflash fetches and flashes the
ESP32_GENERIC_S3 board, variant SPIRAM_OCT (the XIAO ESP32S3's 8 MB octal PSRAM holds the
ring buffer). `--dry-run` prints the commands without running them. The XIAO enters its
ROM bootloader by itself over USB; if esptool cannot connect, hold BOOT while pressing RESET.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

from muwatch.errors import DeviceError, MuwatchError, UsageError

CHIP = "esp32s3"
BOARD = "ESP32_GENERIC_S3"
VARIANT = "SPIRAM_OCT"
ESP_IMAGE_MAGIC = 0xE9
DOWNLOAD_HINT = (
    "download ESP32_GENERIC_S3 (variant SPIRAM_OCT) from https://micropython.org/download/"
    "ESP32_GENERIC_S3/ and pass it with --firmware FILE"
)


def check_port(port: str) -> None:
    if not port:
        raise UsageError("no port: make flash PORT=/dev/ttyACM0")
    if "://" in port:
        raise UsageError(
            f"{port} is not a USB serial port: flashing needs the board's own port "
            "(the simulated device runs the unix port and cannot be flashed)"
        )


def check_image(path: Path) -> None:
    """An ESP image starts with the magic byte 0xE9; refuse anything else before erasing."""
    if not path.is_file():
        raise UsageError(f"firmware image {path} not found ({DOWNLOAD_HINT})")
    head = path.read_bytes()[:1]
    if not head or head[0] != ESP_IMAGE_MAGIC:
        raise UsageError(
            f"{path} is not an ESP32 firmware image (first byte {head.hex() or 'missing'}, "
            "expected e9); use the .bin from micropython.org, not a .uf2/.hex/.elf"
        )


def commands(port: str, firmware: Path | None, baud: int = 460800) -> list[list[str]]:
    """The commands that flash MicroPython (esptool with an image, else mpflash)."""
    check_port(port)
    if firmware is not None:
        check_image(firmware)
        base = [
            sys.executable,
            "-m",
            "esptool",
            "--chip",
            CHIP,
            "--port",
            port,
            "--baud",
            str(baud),
        ]
        return [base + ["erase_flash"], base + ["write_flash", "-z", "0x0", str(firmware)]]
    return [
        [
            "mpflash",
            "flash",
            "--serial",
            port,
            "--board",
            BOARD,
            "--variant",
            VARIANT,
            "--version",
            "stable",
        ]
    ]


def _need(cmd: list[str]) -> None:
    if cmd[:3] == [sys.executable, "-m", "esptool"]:
        if importlib.util.find_spec("esptool") is None:
            raise DeviceError(
                "esptool is not installed: pip install esptool (or pip install -e '.[deploy]')"
            )
    elif cmd[0] == "mpflash":
        from shutil import which

        if which("mpflash") is None and importlib.util.find_spec("mpflash") is None:
            raise DeviceError(f"mpflash is not installed: pip install mpflash, or {DOWNLOAD_HINT}")


def flash(
    port: str, firmware: Path | None = None, *, baud: int = 460800, dry_run: bool = False
) -> list[str]:
    """Run (or with dry_run only list) the flashing commands; -> them as shell lines."""
    cmds = commands(port, firmware, baud)
    lines = [shlex.join(c) for c in cmds]
    if dry_run:
        return lines
    for cmd in cmds:
        _need(cmd)
        proc = subprocess.run(cmd)
        if proc.returncode != 0:
            raise DeviceError(
                f"`{shlex.join(cmd)}` failed (exit {proc.returncode}); if it could not connect, "
                "hold BOOT while pressing RESET on the XIAO and try again"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m muwatch.flash", description="Flash MicroPython onto the sensor's ESP32-S3."
    )
    ap.add_argument("--port", required=True, help="the board's USB serial port, e.g. /dev/ttyACM0")
    ap.add_argument(
        "--firmware",
        type=Path,
        default=None,
        help="MicroPython .bin image (else mpflash downloads one)",
    )
    ap.add_argument("--baud", type=int, default=460800)
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    a = ap.parse_args(argv)
    try:
        lines = flash(a.port, a.firmware, baud=a.baud, dry_run=a.dry_run)
    except MuwatchError as exc:
        print(f"muwatch flash: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for line in lines:
        print(line if a.dry_run else f"done: {line}")
    if not a.dry_run:
        print(f"MicroPython flashed; now: make deploy PORT={a.port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
