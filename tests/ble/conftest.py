"""Fixtures for the BLE tests: an in-process bumble peripheral on a modelled link, and a runner
for coroutines (each test gets a fresh event loop, as pitfall 10 demands)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from bumble import att, hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink
from muwatch.ble._controller import MuwatchController
from muwatch.sim.radio_link import ModelLink

sys.path.insert(0, str(Path(__file__).resolve().parent))

SERVICE = "6d770001-1762-447b-83a3-96d065c9e115"
DATA = "6d770002-1762-447b-83a3-96d065c9e115"
CONTROL = "6d770003-1762-447b-83a3-96d065c9e115"
INFO = "6d770005-1762-447b-83a3-96d065c9e115"
WRITE_ONLY = "6d7700f1-1762-447b-83a3-96d065c9e115"
SECRET = "6d7700f2-1762-447b-83a3-96d065c9e115"
INDICATE = "6d7700f3-1762-447b-83a3-96d065c9e115"
OTHER_SERVICE = "0000fff0-0000-1000-8000-00805f9b34fb"


def run(coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
    """Run a test coroutine in a fresh event loop, bounded so that a hang fails the test."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


class Peripheral:
    """A bumble GATT server standing for a sensor: notify, write, read, protected values."""

    def __init__(
        self,
        link: ModelLink,
        name: str = "muw-T001",
        address: str = "F0:00:00:00:00:01",
        service: str = SERVICE,
        scan_response: bytes = b"",
    ) -> None:
        self.link = link
        self.name = name
        self.address = hci.Address(address)
        self.service = service
        self.scan_response = scan_response
        self.writes: list[bytes] = []
        self.connections: list[Connection] = []
        self.connected = asyncio.Event()

    async def start(self) -> Peripheral:
        controller = MuwatchController(self.name, link=self.link)
        self.controller = controller
        self.device = Device(
            name=self.name, address=self.address, host=Host(controller, AsyncPipeSink(controller))
        )
        self.data = Characteristic(
            DATA, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
        )
        self.control = Characteristic(
            CONTROL,
            Characteristic.Properties.WRITE
            | Characteristic.Properties.WRITE_WITHOUT_RESPONSE
            | Characteristic.Properties.NOTIFY,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=lambda _c, v: self.writes.append(bytes(v))),
        )
        self.info = Characteristic(
            INFO, Characteristic.Properties.READ, Characteristic.READABLE, b"info-v1"
        )
        self.write_only = Characteristic(
            WRITE_ONLY,
            Characteristic.Properties.WRITE,
            Characteristic.WRITEABLE,
            CharacteristicValue(read=self._refuse_read, write=lambda _c, v: None),
        )
        self.secret = Characteristic(
            SECRET,
            Characteristic.Properties.READ,
            Characteristic.READABLE | Characteristic.READ_REQUIRES_ENCRYPTION,
            b"secret",
        )
        self.indicate = Characteristic(
            INDICATE, Characteristic.Properties.INDICATE, Characteristic.READABLE, b""
        )
        chars = [self.data, self.control, self.info, self.write_only, self.secret, self.indicate]
        self.device.add_service(Service(self.service, chars))
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        await self.device.power_on()
        await self.advertise()
        return self

    @staticmethod
    def _refuse_read(_connection: Connection) -> bytes:
        # bumble does not check the READ property itself (pitfall 5): a server must refuse.
        raise att.ATT_Error(att.ErrorCode.READ_NOT_PERMITTED)

    def _on_connection(self, connection: Connection) -> None:
        self.connections.append(connection)
        self.connected.set()

    def adv_data(self) -> bytes:
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (
                        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                        UUID(self.service).to_bytes(),
                    ),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                ]
            )
        )

    async def advertise(self) -> None:
        await self.device.start_advertising(
            advertising_data=self.adv_data(),
            scan_response_data=self.scan_response,
            advertising_interval_min=30,
            advertising_interval_max=30,
        )

    @property
    def connection(self) -> Connection:
        return self.connections[-1]

    async def stream(self, count: int, size: int = 244, drain: bool = True) -> None:
        """Notify `count` frames: 4-byte index then filler, waiting for the link (pitfall 8)."""
        connection = self.connection
        for i in range(count):
            value = i.to_bytes(4, "little") + bytes([i & 0xFF]) * (size - 4)
            await self.device.notify_subscriber(connection, self.data, value)
            if drain:
                await connection.drain()
