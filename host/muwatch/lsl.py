"""Lab Streaming Layer outlet (opt-in, `--lsl`): live EMG in µV plus a marker stream.

What consumers can rely on:
* a stable `source_id` per sensor (`muwatch-<serial>-emg` / `-markers`), so LabRecorder and other
  inlets reconnect by themselves after the bridge restarts;
* channel labels, units ("microvolts") and types ("EMG") in `desc()/channels`, and the sensor in
  `desc()/acquisition`;
* timestamps from the device clock: each chunk is stamped with the device time of its newest
  sample mapped to the LSL clock through the session's clock fit, not with arrival time, so link
  jitter does not reach the stream. A gap shows as a jump in timestamps; samples recovered
  later by backfill go to the recording, not to LSL (a stream cannot go back in time).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from muwatch.errors import UsageError


def _pylsl():  # type: ignore[no-untyped-def]
    try:
        import pylsl
    except Exception as exc:  # ImportError, or liblsl failing to load
        raise UsageError(f"--lsl needs pylsl with liblsl ({exc}); pip install pylsl") from exc
    return pylsl


class LslOutlet:
    """An EMG outlet and a marker outlet for one sensor."""

    def __init__(
        self,
        *,
        serial: str,
        channel_labels: Sequence[str],
        sample_rate: float,
        uv_per_code: float,
        name: str = "muwatch EMG",
        model: str = "",
        firmware: str = "",
        session_id: str = "",
        chunk_size: int = 0,
    ) -> None:
        pylsl = _pylsl()
        self._pylsl = pylsl
        self.serial = serial or "unknown"
        self.source_id = f"muwatch-{self.serial}-emg"
        self.marker_source_id = f"muwatch-{self.serial}-markers"
        self.uv_per_code = float(uv_per_code)
        self.n_channels = len(channel_labels)
        # LSL's clock and time.monotonic() are both steady clocks; measure their offset once.
        self._offset = pylsl.local_clock() - time.monotonic()

        info = pylsl.StreamInfo(
            name, "EMG", self.n_channels, float(sample_rate), pylsl.cf_float32, self.source_id
        )
        desc = info.desc()
        chans = desc.append_child("channels")
        for label in channel_labels:
            ch = chans.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", "microvolts")
            ch.append_child_value("type", "EMG")
        acq = desc.append_child("acquisition")
        acq.append_child_value("manufacturer", "muwatch")
        acq.append_child_value("model", model or "muwatch sensor")
        acq.append_child_value("serial_number", self.serial)
        acq.append_child_value("firmware", firmware)
        acq.append_child_value("clock", "device clock mapped by online linear fit")
        if session_id:
            desc.append_child_value("muwatch_session", session_id)
        self._outlet = pylsl.StreamOutlet(info, chunk_size, 360)

        minfo = pylsl.StreamInfo(
            f"{name} markers",
            "Markers",
            1,
            pylsl.IRREGULAR_RATE,
            pylsl.cf_string,
            self.marker_source_id,
        )
        minfo.desc().append_child("acquisition").append_child_value("serial_number", self.serial)
        self._markers = pylsl.StreamOutlet(minfo)
        self.pushed_samples = 0

    def lsl_time(self, host_time: float) -> float:
        """LSL timestamp of a host monotonic time."""
        return host_time + self._offset

    def push(self, codes: np.ndarray, newest_host_time: float) -> None:
        """Push a block of codes (n, channels); `newest_host_time` is its last sample's time."""
        if codes.size == 0:
            return
        if codes.shape[1] != self.n_channels:
            raise ValueError(f"block has {codes.shape[1]} channels, outlet {self.n_channels}")
        uv = (codes * self.uv_per_code).astype(np.float32)
        self._outlet.push_chunk(uv, self.lsl_time(newest_host_time))
        self.pushed_samples += codes.shape[0]

    def marker(self, text: str, host_time: float) -> None:
        self._markers.push_sample([text], self.lsl_time(host_time))

    def close(self) -> None:
        # Dropping the outlets unregisters the streams.
        self._outlet = None  # type: ignore[assignment]
        self._markers = None  # type: ignore[assignment]
