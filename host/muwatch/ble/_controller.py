"""A bumble virtual controller that behaves like a real one where muwatch depends on it.

bumble's `Controller` is a good link-layer stand-in, but a few of its shortcuts hide exactly the
failures muwatch must handle (docs/hil.md, toolchain pitfalls 1-3):

* LE Create Connection Cancel always succeeded and left the connect pending forever; here it
  ends the attempt with LE Connection Complete (Unknown Connection Identifier), as the spec says.
* HCI Reset kept every connection; here it drops them, and the peer learns it the real way
  (its supervision timeout, if the link models one).
* ACL buffers were 27 bytes (4x slower with 244-byte notifications); here 251 (data length
  extension), with a bounded number of buffers.
* Number Of Completed Packets came back at once; here it comes back when the link has actually
  delivered the PDU, so the host's flow control (and `Connection.drain()`) means something.
* The peripheral reported a made-up connection interval; here it reports the central's.
* Active scans got the advertising data again as scan response; here they get the advertiser's
  real scan response (possibly empty), and none when the scan is passive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bumble import controller as bumble_controller
from bumble import hci, ll
from bumble.core import PhysicalTransport

logger = logging.getLogger(__name__)

#: LE data length extension payload: one 244-byte notification fits one LL packet.
LE_ACL_PACKET_LENGTH = 251


class _Advertiser(bumble_controller.LegacyAdvertiser):
    """Legacy advertiser that fires at the commanded interval (units of 0.625 ms)."""

    def _on_timer_fired(self) -> None:
        self.send_advertising_data()
        interval_s = max(self.advertising_interval_min, 0x20) * 0.000625
        self.timer_handle = asyncio.get_running_loop().call_later(interval_s, self._on_timer_fired)


class MuwatchController(bumble_controller.Controller):
    """Virtual LE controller with spec-like cancel/reset, 251-byte ACL and real flow control."""

    le_acl_data_packet_length = LE_ACL_PACKET_LENGTH
    supported_max_tx_octets = LE_ACL_PACKET_LENGTH
    supported_max_rx_octets = LE_ACL_PACKET_LENGTH
    suggested_max_tx_octets = LE_ACL_PACKET_LENGTH
    # Legacy advertising and scanning only: what the firmware's NimBLE peripheral uses.
    le_features = bumble_controller.Controller.le_features & ~(
        hci.LeFeatureMask.LE_EXTENDED_ADVERTISING | hci.LeFeatureMask.LE_PERIODIC_ADVERTISING
    )

    def __init__(self, name: str, *args: Any, acl_buffers: int = 12, **kwargs: Any) -> None:
        super().__init__(name, *args, **kwargs)
        self.total_num_le_acl_data_packets = acl_buffers
        self.le_legacy_advertiser = _Advertiser(self)
        # Per connection handle: HCI fragments received towards the PDU being assembled.
        self._assembly: dict[int, tuple[hci.HCI_AclDataPacketAssembler, list[int]]] = {}

    # -- host -> controller data, with completion when the link delivered it ----------------
    def on_hci_acl_data_packet(self, packet: hci.HCI_AclDataPacket) -> None:
        connection = self.find_connection_by_handle(packet.connection_handle)
        if connection is None or connection.transport != PhysicalTransport.LE:
            super().on_hci_acl_data_packet(packet)
            return
        handle = connection.handle
        state = self._assembly.get(handle)
        if state is None:
            fragments = [0]

            def on_pdu(pdu: bytes, handle: int = handle, fragments: list[int] = fragments) -> None:
                count = fragments[0]
                fragments[0] = 0
                self._send_pdu(handle, pdu, count)

            state = (hci.HCI_AclDataPacketAssembler(on_pdu), fragments)
            self._assembly[handle] = state
        state[1][0] += 1
        state[0].feed_packet(packet)

    def _send_pdu(self, handle: int, pdu: bytes, fragments: int) -> None:
        connection = self.find_le_connection_by_handle(handle)
        if connection is None:
            return
        paced = getattr(self.link, "send_acl_data_paced", None)
        if paced is None:
            self.link.send_acl_data(self, connection.peer_address, PhysicalTransport.LE, pdu)
            self._complete(handle, fragments)
            return
        paced(self, connection.peer_address, pdu, lambda: self._complete(handle, fragments))

    def _complete(self, handle: int, count: int) -> None:
        if self.find_le_connection_by_handle(handle) is None:
            return  # the host flushed this connection's queue when it went down
        self.send_hci_packet(
            hci.HCI_Number_Of_Completed_Packets_Event(
                connection_handles=[handle], num_completed_packets=[count]
            )
        )

    # -- connection set-up and tear-down ---------------------------------------------------
    def on_hci_le_create_connection_cancel_command(
        self, _command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        # Command Complete first, then the connection attempt ends (spec Vol 4 Part E 7.8.13).
        asyncio.get_running_loop().call_soon(self._report_cancelled, pending.peer_address)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def _report_cancelled(self, peer_address: hci.Address) -> None:
        self.send_hci_packet(
            hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=peer_address.address_type,
                peer_address=peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
        )

    def on_hci_reset_command(
        self, _command: hci.HCI_Reset_Command
    ) -> hci.HCI_StatusReturnParameters:
        self.drop_all_connections()
        self.pending_le_connection = None
        self.le_scan_enable = False
        self.le_legacy_advertiser.stop()
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def drop_all_connections(self) -> None:
        """Forget every LE connection without telling the host (reset, power loss).

        The peer is told through the link, which (when it models time) lets the peer's
        supervision timeout expire, as a real radio going silent would.
        """
        lost = getattr(self.link, "on_connection_lost", None)
        for peer_address, connection in list(self.le_connections.items()):
            del self.le_connections[peer_address]
            self._assembly.pop(connection.handle, None)
            if lost is not None:
                lost(self, connection)

    def on_le_disconnected(self, connection: bumble_controller.Connection, reason: int) -> None:
        self._assembly.pop(connection.handle, None)
        if self.le_connections.get(connection.peer_address) is connection:
            super().on_le_disconnected(connection, reason)

    def on_le_connect_ind(self, packet: ll.ConnectInd) -> None:
        # bumble announces a made-up interval to the peripheral's host: announce the central's.
        self._connect_ind: ll.ConnectInd | None = packet
        try:
            super().on_le_connect_ind(packet)
        finally:
            self._connect_ind = None

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        ind = getattr(self, "_connect_ind", None)
        if (
            ind is not None
            and isinstance(packet, hci.HCI_LE_Connection_Complete_Event)
            and packet.role == hci.Role.PERIPHERAL
        ):
            packet.connection_interval = ind.interval
            packet.peripheral_latency = ind.latency
            packet.supervision_timeout = ind.timeout
        super().send_hci_packet(packet)

    # -- scanning: real scan responses -----------------------------------------------------
    def on_advertising_pdu(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        if not isinstance(pdu, ll.AdvInd):
            super().on_advertising_pdu(pdu)
            return
        if self.le_scan_enable:
            self.send_hci_packet(
                hci.HCI_LE_Advertising_Report_Event(
                    [
                        hci.HCI_LE_Advertising_Report_Event.Report(
                            event_type=hci.HCI_LE_Advertising_Report_Event.EventType.ADV_IND,
                            address_type=pdu.advertiser_address.address_type,
                            address=pdu.advertiser_address,
                            data=pdu.data,
                            rssi=-50,
                        )
                    ]
                )
            )
            response = self._scan_response_of(pdu.advertiser_address)
            if self.le_scan_type == 1:  # a scannable advertiser always answers SCAN_REQ
                self.send_hci_packet(
                    hci.HCI_LE_Advertising_Report_Event(
                        [
                            hci.HCI_LE_Advertising_Report_Event.Report(
                                event_type=hci.HCI_LE_Advertising_Report_Event.EventType.SCAN_RSP,
                                address_type=pdu.advertiser_address.address_type,
                                address=pdu.advertiser_address,
                                data=response,
                                rssi=-50,
                            )
                        ]
                    )
                )
        pending = self.pending_le_connection
        if pending is not None and pending.peer_address == pdu.advertiser_address:
            self.create_le_connection(pdu.advertiser_address)

    def _scan_response_of(self, address: hci.Address) -> bytes:
        for other in self.link.controllers:
            advertiser = getattr(other, "le_legacy_advertiser", None)
            if advertiser is not None and advertiser.enabled and advertiser.address == address:
                return bytes(advertiser.scan_response_data)
        return b""


#: What a link that models time offers controllers (duck-typed; bumble's LocalLink lacks it).
PacedSend = Callable[[MuwatchController, hci.Address, bytes, Callable[[], None]], None]
