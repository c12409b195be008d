"""Serial transport (pyserial): USB-CDC/UART ports and pyserial URLs such as socket://host:port.

A reader thread blocks in `read()` and hands byte chunks to the event loop, where the protocol's
stream decoder (vectorised, resynchronising after garbage) splits them into frames. A read
error or a closed socket is a dropped link: the Device reconnects by calling `open()` again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from muwatch.protocol.constants import SYNC
from muwatch.protocol.stream import StreamDecoder
from muwatch.transports.base import Transport, TransportClosed, TransportError

_COUNTERS = ("bytes_in", "frames", "garbage_bytes", "crc_errors", "false_syncs", "bad_event_bodies")

DEFAULT_BAUDRATE = 921600  # ignored by USB-CDC, pty and socket://
READ_CHUNK = 65536
READ_WINDOW = 0.02  # s: the most a byte waits in the port before the decoder sees it


class SerialTransport(Transport):
    """A sensor on a serial port or pyserial URL."""

    def __init__(self, url: str, *, baudrate: int = DEFAULT_BAUDRATE) -> None:
        super().__init__()
        self.url = url
        self.baudrate = baudrate
        self.description = f"serial {url}"
        self._ser: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._decoder: StreamDecoder | None = None
        self._write_lock = asyncio.Lock()
        self._stats: dict[str, int] = {}
        self._generation = 0

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    @property
    def stats(self) -> dict[str, int]:
        out = dict(self._stats)
        if self._decoder is not None:
            for k in _COUNTERS:
                out[k] = out.get(k, 0) + int(getattr(self._decoder, k))
            out["truncated_bytes"] = out.get("truncated_bytes", 0) + sum(
                n for _, n in self._decoder.truncated
            )
        return out

    async def open(self, timeout: float = 10.0) -> None:
        if self._ser is not None:
            return
        import serial

        self._loop = asyncio.get_running_loop()

        def connect() -> Any:
            return serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=READ_WINDOW, write_timeout=2.0
            )

        try:
            ser = await asyncio.wait_for(self._loop.run_in_executor(None, connect), timeout)
        except TimeoutError:
            raise TransportError(f"{self.url}: no connection within {timeout:g} s") from None
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open {self.url}: {exc}") from exc
        with contextlib.suppress(Exception):
            ser.reset_input_buffer()
        self._fold_stats()
        self._decoder = StreamDecoder()
        self._ser = ser
        self._stop.clear()
        self._generation += 1
        self._thread = threading.Thread(
            target=self._reader,
            args=(ser, self._generation),
            name=f"serial {self.url}",
            daemon=True,
        )
        self._thread.start()

    async def close(self) -> None:
        ser, self._ser = self._ser, None
        self._stop.set()
        if ser is not None:
            with contextlib.suppress(Exception):
                ser.cancel_read()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                await asyncio.get_running_loop().run_in_executor(None, thread.join, 2.0)
            with contextlib.suppress(Exception):
                ser.close()
        self._thread = None

    async def send(self, frame: bytes) -> None:
        ser = self._ser
        if ser is None:
            raise TransportClosed(f"{self.url} is not open")
        data = SYNC + bytes(frame)
        async with self._write_lock:
            try:
                await asyncio.get_running_loop().run_in_executor(None, ser.write, data)
            except Exception as exc:
                raise TransportClosed(f"writing to {self.url} failed: {exc}") from exc

    # -- reader thread ----------------------------------------------------------------------
    def _reader(self, ser: Any, generation: int) -> None:
        loop = self._loop
        assert loop is not None
        why = ""
        try:
            while not self._stop.is_set():
                # Big reads bounded by the port timeout (READ_WINDOW): one wake-up per
                # window instead of one per byte (pyserial's socket in_waiting is 0 or 1).
                chunk = ser.read(READ_CHUNK)
                if chunk:
                    loop.call_soon_threadsafe(self._feed, chunk, generation)
        except Exception as exc:  # SerialException, OSError: the port or socket went away
            why = str(exc) or type(exc).__name__
        if not self._stop.is_set():
            with contextlib.suppress(RuntimeError):  # loop closed
                loop.call_soon_threadsafe(self._lost, why or "port closed", generation)

    def _feed(self, chunk: bytes, generation: int) -> None:
        if generation != self._generation or self._decoder is None:
            return
        for frame in self._decoder.feed(chunk):
            self._deliver(frame)

    def _lost(self, why: str, generation: int) -> None:
        if generation != self._generation or self._ser is None:
            return
        ser, self._ser = self._ser, None
        self._stop.set()
        with contextlib.suppress(Exception):
            ser.close()
        self._dropped(f"{self.url}: {why}")

    def _fold_stats(self) -> None:
        """Keep counters of earlier connections when a new decoder starts."""
        if self._decoder is not None:
            self._decoder.close()
            self._stats = self.stats
