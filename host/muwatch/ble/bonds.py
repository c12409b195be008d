"""Where the host keeps its Bluetooth identity and bond keys (what the OS stack does elsewhere).

A bond is only useful if both sides keep it: the sensor keeps its keys in flash, the host keeps
them here. `BondStore(path)` is a JSON file (written atomically) holding the host's own random
static address, so a sensor recognises the host again in a later process, and one bumble
`PairingKeys` record per peer. `BondStore()` keeps everything in memory for one process.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bumble import hci
from bumble.keys import KeyStore, PairingKeys

from muwatch.errors import StorageError

_FORMAT = 1


class BondStore(KeyStore):
    """bumble KeyStore backed by an optional JSON file; also remembers the host's address."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._address: str | None = None
        self._bonds: dict[str, dict[str, Any]] = {}
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text())
            if data.get("format") != _FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            self._address = data.get("address")
            self._bonds = dict(data.get("bonds", {}))
        except (OSError, ValueError, AttributeError) as exc:
            raise StorageError(
                f"cannot read the Bluetooth bond store {self.path}: {exc}; "
                "move it away to start without bonds (sensors must then be paired again)"
            ) from exc

    def _save(self) -> None:
        if self.path is None:
            return
        data = {"format": _FORMAT, "address": self._address, "bonds": self._bonds}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StorageError(f"cannot write the Bluetooth bond store {self.path}: {exc}") from exc

    @property
    def address(self) -> hci.Address:
        """The host's random static address, created on first use and kept."""
        if self._address is None:
            self._address = hci.Address.generate_static_address().to_string(False)
            self._save()
        return hci.Address(self._address, hci.Address.RANDOM_DEVICE_ADDRESS)

    # -- bumble KeyStore interface ---------------------------------------------------------
    async def update(self, name: str, keys: PairingKeys) -> None:
        self._bonds[name] = keys.to_dict()
        self._save()

    async def get(self, name: str) -> PairingKeys | None:
        entry = self._bonds.get(name)
        return PairingKeys.from_dict(entry) if entry is not None else None

    async def get_all(self) -> list[tuple[str, PairingKeys]]:
        return [(name, PairingKeys.from_dict(entry)) for name, entry in self._bonds.items()]

    async def delete(self, name: str) -> None:
        if self._bonds.pop(name, None) is not None:
            self._save()

    def bonded_peers(self) -> list[str]:
        """Addresses of the peers this host holds keys for."""
        return sorted(self._bonds)

    def has_bond(self, name: str) -> bool:
        return name in self._bonds
