"""Advertising data into bleak's `AdvertisementData`, each AD structure counted once.

Advertising data and scan response are concatenated by bumble, and both may carry the same
structure (pitfall 2: bumble's virtual controller even repeats the whole advertising data as scan
response). Duplicates are dropped so a service UUID or a name appears once.
"""

from __future__ import annotations

import struct
import uuid as uuid_module
from collections.abc import Iterable

from bleak.backends.scanner import AdvertisementData
from bleak.uuids import normalize_uuid_str
from bumble.core import UUID

_FLAGS = 0x01
_UUID16 = (0x02, 0x03)
_UUID32 = (0x04, 0x05)
_UUID128 = (0x06, 0x07)
_SHORT_NAME = 0x08
_COMPLETE_NAME = 0x09
_TX_POWER = 0x0A
_SERVICE_DATA16 = 0x16
_SERVICE_DATA32 = 0x20
_SERVICE_DATA128 = 0x21
_MANUFACTURER = 0xFF


def bumble_uuid_str(value: UUID) -> str:
    """A bumble UUID as bleak's normalised 128-bit lower-case string."""
    return str(uuid_module.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))


def _uuid_from_le(raw: bytes) -> str:
    if len(raw) == 2:
        return normalize_uuid_str(f"{struct.unpack('<H', raw)[0]:04x}")
    if len(raw) == 4:
        return normalize_uuid_str(f"{struct.unpack('<I', raw)[0]:08x}")
    return str(uuid_module.UUID(bytes=bytes(reversed(raw))))


def parse_ad_structures(data: bytes) -> list[tuple[int, bytes]]:
    """Split raw advertising data into (type, value) pairs; a torn tail is ignored."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        length = data[i]
        if length == 0 or i + 1 + length > len(data):
            break
        out.append((data[i + 1], bytes(data[i + 2 : i + 1 + length])))
        i += 1 + length
    return out


def unique_structures(structures: Iterable[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    seen: set[tuple[int, bytes]] = set()
    out = []
    for item in structures:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def advertisement_data(structures: Iterable[tuple[int, bytes]], rssi: int) -> AdvertisementData:
    """bleak's view of de-duplicated AD structures."""
    structures = unique_structures(structures)
    complete_name = short_name = None
    service_uuids: list[str] = []
    service_data: dict[str, bytes] = {}
    manufacturer: dict[int, bytes] = {}
    tx_power = None
    for ad_type, value in structures:
        if ad_type == _COMPLETE_NAME:
            complete_name = value.decode("utf-8", "replace")
        elif ad_type == _SHORT_NAME:
            short_name = value.decode("utf-8", "replace")
        elif ad_type in _UUID16 + _UUID32 + _UUID128:
            width = 2 if ad_type in _UUID16 else 4 if ad_type in _UUID32 else 16
            for j in range(0, len(value) - width + 1, width):
                u = _uuid_from_le(value[j : j + width])
                if u not in service_uuids:
                    service_uuids.append(u)
        elif ad_type in (_SERVICE_DATA16, _SERVICE_DATA32, _SERVICE_DATA128):
            width = {_SERVICE_DATA16: 2, _SERVICE_DATA32: 4, _SERVICE_DATA128: 16}[ad_type]
            if len(value) >= width:
                service_data[_uuid_from_le(value[:width])] = value[width:]
        elif ad_type == _MANUFACTURER and len(value) >= 2:
            manufacturer[struct.unpack("<H", value[:2])[0]] = value[2:]
        elif ad_type == _TX_POWER and len(value) == 1:
            tx_power = struct.unpack("b", value)[0]
    return AdvertisementData(
        local_name=complete_name or short_name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=service_uuids,
        tx_power=tx_power,
        rssi=rssi,
        platform_data=(structures,),
    )
