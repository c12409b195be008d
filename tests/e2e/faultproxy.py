"""A TCP relay between the host and the simulated sensor that can pull the cable.

During a cut the host's connection is closed, new connections are refused (accepted and
closed at once), and what the sensor sends meanwhile is discarded, as bytes on a pulled USB
cable are. The sensor's side of the relay stays connected, so the firmware keeps streaming
into its ring buffer exactly as it would with a real cable gone.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream_addr = (upstream_host, upstream_port)
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.port = self.server.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self._up: socket.socket | None = None
        self._down: socket.socket | None = None
        self._cut_until = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.discarded = 0
        self.cuts: list[tuple[float, float]] = []
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()

    def cut(self, seconds: float) -> None:
        """Pull the cable now for `seconds`."""
        with self._lock:
            now = time.monotonic()
            self._cut_until = now + seconds
            self.cuts.append((now, seconds))
            if self._down is not None:
                with contextlib.suppress(OSError):
                    self._down.shutdown(socket.SHUT_RDWR)
                self._down.close()
                self._down = None

    @property
    def is_cut(self) -> bool:
        return time.monotonic() < self._cut_until

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for s in (self._down, self._up, self.server):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                socks = [self.server] + [s for s in (self._up, self._down) if s is not None]
            try:
                readable, _, _ = select.select(socks, [], [], 0.05)
            except (OSError, ValueError):
                continue
            for s in readable:
                if s is self.server:
                    self._accept()
                elif s is self._up:
                    self._from_up()
                elif s is self._down:
                    self._from_down()

    def _accept(self) -> None:
        conn, _ = self.server.accept()
        with self._lock:
            if self.is_cut or self._down is not None:
                conn.close()
                return
            if self._up is None:
                self._up = socket.create_connection(self.upstream_addr, timeout=5)
            self._down = conn

    def _from_up(self) -> None:
        assert self._up is not None
        try:
            data = self._up.recv(65536)
        except OSError:
            data = b""
        if not data:
            with self._lock:
                self._up.close()
                self._up = None
            return
        with self._lock:
            down = self._down
            if down is None or self.is_cut:
                self.discarded += len(data)
                return
            try:
                down.sendall(data)
            except OSError:
                self.discarded += len(data)

    def _from_down(self) -> None:
        down = self._down
        if down is None:
            return
        try:
            data = down.recv(65536)
        except OSError:
            data = b""
        with self._lock:
            if not data:
                if self._down is down:
                    down.close()
                    self._down = None
                return
            if self._up is not None:
                with contextlib.suppress(OSError):
                    self._up.sendall(data)
