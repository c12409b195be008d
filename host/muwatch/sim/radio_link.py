"""The air between the simulated sensor and the host: a bumble link with a BLE timing model.

bumble's `LocalLink` hands every packet over at once, which would make the twin faster and
more reliable than any radio (toolchain pitfall 7). `ModelLink` keeps bumble's controllers but
moves every LL PDU through connection events:

* a connection has an interval (the one the central asked for in CONNECT_IND, or a forced
  one) and a number of packet exchanges per event, limited by air time at the chosen PHY and
  data length, or by `max_packets_per_event` (what many phones and dongles allow);
* each exchange carries at most one LL packet each way; a PDU longer than the data length
  takes several;
* a packet the air corrupts (`loss`) is not lost: it is not acknowledged and goes again in the
  next exchange, so loss becomes delay, as in BLE; two corrupt packets in a row close the event;
* `latency_s` adds a fixed delay per delivered PDU (controller to host transport and stack);
* scripted faults: `outage(seconds)` stops all traffic (advertising included) and disconnects
  every connection whose supervision timeout is shorter, with reason 0x08 on both sides;
  `refuse_connections(n)` makes the next n CONNECT_INDs fail to be established (0x3E after
  six intervals), `disconnect_all(reason)` drops links as if the radio failed.

Statistics (`stats`) count every PDU, retransmission, outage and drop, so a test can check
what the link did instead of assuming it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bumble import controller as bumble_controller
from bumble import hci, ll
from bumble.core import PhysicalTransport
from bumble.link import LocalLink

logger = logging.getLogger(__name__)

_IFS_US = 150
_CONNECTION_TIMEOUT = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
_FAILED_TO_ESTABLISH = hci.HCI_ErrorCode.CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR


@dataclass
class LinkModel:
    """Parameters of the simulated air interface (defaults: a clean 1M PHY link with DLE)."""

    #: Force this connection interval (s) instead of the one the central asked for.
    interval_s: float | None = None
    #: Cap on packet exchanges per connection event (None: as many as air time allows).
    max_packets_per_event: int | None = None
    #: "1M" or "2M" (the central picks the PHY; MicroPython cannot).
    phy: str = "1M"
    #: LL payload octets (251 with data length extension, 27 without).
    data_length: int = 251
    #: Probability that one LL packet is corrupted on air (then retransmitted).
    loss: float = 0.0
    #: Fixed extra delay per delivered PDU (s).
    latency_s: float = 0.0
    #: Seed of the loss draws, so a run can be repeated.
    seed: int = 0

    def __post_init__(self) -> None:
        if self.phy not in ("1M", "2M"):
            raise ValueError(f"phy must be '1M' or '2M', not {self.phy!r}")
        if not 27 <= self.data_length <= 251:
            raise ValueError(f"data_length must be 27..251 octets, not {self.data_length}")
        if not 0.0 <= self.loss < 1.0:
            raise ValueError(f"loss must be in [0, 1), not {self.loss}")
        if self.interval_s is not None and not 0.0075 <= self.interval_s <= 4.0:
            raise ValueError(f"interval_s must be 7.5 ms .. 4 s, not {self.interval_s}")
        if self.max_packets_per_event is not None and self.max_packets_per_event < 1:
            raise ValueError("max_packets_per_event must be >= 1")
        if self.latency_s < 0:
            raise ValueError("latency_s must be >= 0")

    def airtime_us(self, payload: int) -> float:
        """Air time of one encrypted LL data packet carrying `payload` octets."""
        preamble = 1 if self.phy == "1M" else 2
        mic = 4 if payload else 0
        octets = preamble + 4 + 2 + payload + mic + 3
        return octets * (8.0 if self.phy == "1M" else 4.0)

    @property
    def exchange_s(self) -> float:
        """One full-size packet one way, an empty one back, two inter-frame spaces."""
        us = self.airtime_us(self.data_length) + _IFS_US + self.airtime_us(0) + _IFS_US
        return us * 1e-6

    def packets_per_event(self, interval_s: float) -> int:
        n = max(1, int(interval_s / self.exchange_s))
        if self.max_packets_per_event is not None:
            n = min(n, self.max_packets_per_event)
        return n

    def capacity_bytes_per_s(self, interval_s: float, payload_per_pdu: int) -> float:
        """Upper bound on one direction's application throughput for PDUs of that payload."""
        ll_packets = math.ceil((payload_per_pdu + 7) / self.data_length)
        return self.packets_per_event(interval_s) / ll_packets * payload_per_pdu / interval_s


@dataclass
class LinkStats:
    """What the link did; counters only ever grow."""

    pdus_delivered: int = 0
    ll_packets_sent: int = 0
    ll_retransmissions: int = 0
    events_closed_by_errors: int = 0
    advertising_dropped: int = 0
    connections: int = 0
    refused_connections: int = 0
    supervision_timeouts: int = 0
    outages: int = 0
    pdus_flushed_at_disconnect: int = 0
    max_queue_depth: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Item:
    payload: Any  # bytes (ACL PDU) or ll.ControlPdu
    t_enq: float
    ll_packets: int
    on_sent: Callable[[], None] | None
    sent: int = 0


@dataclass
class _Direction:
    sender: bumble_controller.Controller
    sender_address: hci.Address
    receiver: bumble_controller.Controller
    queue: collections.deque[_Item] = field(default_factory=collections.deque)
    # Delivered on air, waiting for their delivery time (kept in order).
    arriving: collections.deque[tuple[float, _Item]] = field(default_factory=collections.deque)


class _LinkConnection:
    """One LE connection between two controllers on the link, with its event clock."""

    def __init__(
        self,
        link: ModelLink,
        central: bumble_controller.Controller,
        central_address: hci.Address,
        peripheral: bumble_controller.Controller,
        peripheral_address: hci.Address,
        interval_s: float,
        supervision_s: float,
    ) -> None:
        self.link = link
        self.loop = asyncio.get_running_loop()
        self.central_address = central_address
        self.peripheral_address = peripheral_address
        self.interval_s = interval_s
        self.supervision_s = supervision_s
        self.anchor0 = self.loop.time()
        self.next_event = 1
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.directions = (
            _Direction(central, central_address, peripheral),
            _Direction(peripheral, peripheral_address, central),
        )
        self.supervision_timer: asyncio.TimerHandle | None = None

    # -- queueing ------------------------------------------------------------------------
    def direction_from(self, sender: bumble_controller.Controller) -> _Direction:
        return self.directions[0] if self.directions[0].sender is sender else self.directions[1]

    def enqueue(self, direction: _Direction, item: _Item) -> None:
        direction.queue.append(item)
        depth = len(direction.queue)
        if depth > self.link.stats.max_queue_depth:
            self.link.stats.max_queue_depth = depth
        self._arm()

    def anchor(self, k: int) -> float:
        return self.anchor0 + k * self.interval_s

    def set_interval(self, interval_s: float) -> None:
        """Connection update: the new event grid starts now."""
        now = self.loop.time()
        self.anchor0 = now
        self.next_event = 1
        self.interval_s = interval_s
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None or self.closed:
            return
        if not (self.directions[0].queue or self.directions[1].queue):
            return
        now = self.loop.time()
        k = max(self.next_event, math.ceil((now - self.anchor0) / self.interval_s))
        self.next_event = k
        self.timer = self.loop.call_at(self.anchor(k), self._tick)

    # -- connection events ---------------------------------------------------------------
    def _tick(self) -> None:
        self.timer = None
        if self.closed:
            return
        now = self.loop.time()
        while self.anchor(self.next_event) <= now and not self.closed:
            k = self.next_event
            outage_end = self.link.outage_end
            if outage_end > self.anchor(k):
                # Nothing gets through until the outage ends: skip those events.
                self.next_event = max(
                    k + 1, math.ceil((outage_end - self.anchor0) / self.interval_s)
                )
                continue
            self._run_event(self.anchor(k))
            self.next_event = k + 1
            if not (self.directions[0].queue or self.directions[1].queue):
                break
        self._arm()

    def _run_event(self, t_anchor: float) -> None:
        model = self.link.model
        exchange = model.exchange_s
        slots = model.packets_per_event(self.interval_s)
        errors_in_a_row = 0
        stats = self.link.stats
        for slot in range(slots):
            t_slot = t_anchor + slot * exchange
            active = False
            for direction in self.directions:
                if not direction.queue or direction.queue[0].t_enq > t_slot:
                    continue
                active = True
                item = direction.queue[0]
                if model.loss and self.link.rng.random() < model.loss:
                    stats.ll_retransmissions += 1
                    errors_in_a_row += 1
                    if errors_in_a_row >= 2:
                        stats.events_closed_by_errors += 1
                        return
                    continue
                errors_in_a_row = 0
                stats.ll_packets_sent += 1
                item.sent += 1
                if item.sent >= item.ll_packets:
                    direction.queue.popleft()
                    self._arrive(direction, t_slot + exchange + model.latency_s, item)
            if not active:
                return  # no more data either way: the event ends (MD bit clear)

    def _arrive(self, direction: _Direction, t: float, item: _Item) -> None:
        direction.arriving.append((t, item))
        delay = t - self.loop.time()
        if delay <= 0:
            self.loop.call_soon(self._deliver_due, direction)
        else:
            self.loop.call_later(delay, self._deliver_due, direction)

    def _deliver_due(self, direction: _Direction) -> None:
        now = self.loop.time()
        while direction.arriving and direction.arriving[0][0] <= now + 1e-6:
            t, item = direction.arriving.popleft()
            if self.closed:
                return
            trace = self.link.trace
            if trace is not None:
                index = 0 if direction is self.directions[0] else 1
                trace.append((index, item.t_enq, t, self.anchor0, self.interval_s))
            self.link.stats.pdus_delivered += 1
            if item.on_sent is not None:
                item.on_sent()
            payload = item.payload
            if isinstance(payload, (bytes, bytearray)):
                pdu = bytes(payload)
                for listener in self.link.delivery_listeners:
                    listener(direction.sender, self.peer_of(direction.sender), pdu)
                direction.receiver.on_link_acl_data(
                    direction.sender_address, PhysicalTransport.LE, pdu
                )
            else:
                direction.receiver.on_ll_control_pdu(direction.sender_address, payload)
                if isinstance(payload, ll.TerminateInd):
                    self.close()
                    return
                if isinstance(payload, ll.ConnectionUpdateInd):
                    self.set_interval(self.link.interval_for(payload.interval))

    def recall_in_flight(self, now: float) -> None:
        """An outage began: PDUs not yet received go back to the head of their queue."""
        for direction in self.directions:
            late = [item for t, item in direction.arriving if t > now]
            if not late:
                continue
            kept = [(t, item) for t, item in direction.arriving if t <= now]
            direction.arriving.clear()
            direction.arriving.extend(kept)
            for item in reversed(late):
                item.sent = 0
                direction.queue.appendleft(item)
        self._arm()

    # -- ending ----------------------------------------------------------------------------
    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for timer in (self.timer, self.supervision_timer):
            if timer is not None:
                timer.cancel()
        for direction in self.directions:
            self.link.stats.pdus_flushed_at_disconnect += len(direction.queue) + len(
                direction.arriving
            )
            direction.queue.clear()
            direction.arriving.clear()
        self.link.forget(self)

    def drop(self, reason: int) -> None:
        """Both controllers lose the connection now (supervision timeout, radio failure)."""
        self.close()
        for controller in (self.directions[0].sender, self.directions[1].sender):
            connection = controller.le_connections.get(self.peer_of(controller))
            if connection is not None:
                controller.on_le_disconnected(connection, reason)

    def peer_of(self, controller: bumble_controller.Controller) -> hci.Address:
        """The address `controller` knows the other end of this connection by."""
        if controller is self.directions[0].sender:
            return self.peripheral_address
        return self.central_address

    def drop_side(self, survivor: bumble_controller.Controller, reason: int) -> None:
        """The other side vanished; `survivor` learns it when its supervision timer expires."""
        peer_address = self.peer_of(survivor)

        def expire() -> None:
            self.link.stats.supervision_timeouts += 1
            connection = survivor.le_connections.get(peer_address)
            if connection is not None:
                survivor.on_le_disconnected(connection, reason)

        self.close()
        self.loop.call_later(self.supervision_s, expire)


class ModelLink(LocalLink):
    """A bumble LocalLink that moves LE traffic through a BLE timing and fault model."""

    def __init__(self, model: LinkModel | None = None) -> None:
        super().__init__()
        self.model = model or LinkModel()
        self.rng = random.Random(self.model.seed)
        self.stats = LinkStats()
        self.outage_end = float("-inf")
        self._refuse = 0
        #: When a list: (direction 0 = central to peripheral, t_enqueued, t_delivered, anchor0,
        #: interval_s) per PDU, in the model's own time (what the air would do, free of the
        #: event loop's lateness). For tests and benchmarks.
        self.trace: list[tuple[int, float, float, float, float]] | None = None
        #: Called as listener(sender_controller, peer_address, l2cap_pdu) when an ACL PDU
        #: reaches its peer (peer_address: how the sender knows the receiver).
        self.delivery_listeners: list[
            Callable[[bumble_controller.Controller, hci.Address, bytes], None]
        ] = []
        self._by_sender: dict[tuple[int, bytes], _LinkConnection] = {}
        self._by_addresses: dict[tuple[bytes, bytes], _LinkConnection] = {}

    # -- parameters --------------------------------------------------------------------
    def interval_for(self, interval_units: int) -> float:
        """Seconds of a connection interval in 1.25 ms units (unless the model forces one)."""
        if self.model.interval_s is not None:
            return self.model.interval_s
        return max(interval_units, 6) * 0.00125

    @property
    def connection_count(self) -> int:
        return len({id(c) for c in self._by_sender.values()})

    # -- scripted faults ---------------------------------------------------------------
    def outage(self, duration_s: float) -> None:
        """Silence the air for `duration_s`; links with a shorter supervision timeout drop."""
        if duration_s <= 0:
            raise ValueError("outage duration must be > 0")
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.outage_end = max(self.outage_end, now + duration_s)
        self.stats.outages += 1
        for connection in {id(c): c for c in self._by_sender.values()}.values():
            connection.recall_in_flight(now)
            if connection.supervision_s <= duration_s and connection.supervision_timer is None:

                def expire(c: _LinkConnection = connection) -> None:
                    self.stats.supervision_timeouts += 1
                    c.drop(_CONNECTION_TIMEOUT)

                connection.supervision_timer = loop.call_later(connection.supervision_s, expire)

    @property
    def in_outage(self) -> bool:
        return asyncio.get_running_loop().time() < self.outage_end

    def refuse_connections(self, count: int = 1) -> None:
        """The next `count` connection attempts fail to be established (reason 0x3E)."""
        self._refuse += count

    def disconnect_all(self, reason: int = _CONNECTION_TIMEOUT) -> None:
        """Drop every connection on both sides at once with `reason`."""
        for connection in {id(c): c for c in self._by_sender.values()}.values():
            connection.drop(reason)

    # -- bumble LocalLink hooks --------------------------------------------------------
    def send_advertising_pdu(
        self, sender_controller: bumble_controller.Controller, packet: ll.AdvertisingPdu
    ) -> None:
        if self.in_outage:
            self.stats.advertising_dropped += 1
            if isinstance(packet, ll.ConnectInd):
                self._fail_to_establish(sender_controller, packet)
            return
        if isinstance(packet, ll.ConnectInd):
            if self._refuse > 0:
                self._refuse -= 1
                self.stats.refused_connections += 1
                self._fail_to_establish(sender_controller, packet)
                return
            peripheral = self.find_le_controller(packet.advertiser_address)
            if peripheral is not None:
                self._open(sender_controller, packet, peripheral)
        super().send_advertising_pdu(sender_controller, packet)

    def _fail_to_establish(
        self, central: bumble_controller.Controller, packet: ll.ConnectInd
    ) -> None:
        # The central's controller already said "connected"; after six intervals without a
        # packet from the peripheral the connection fails to be established (Vol 6 B 4.5.2).
        delay = 6 * self.interval_for(packet.interval)

        def fail() -> None:
            connection = central.le_connections.get(packet.advertiser_address)
            if connection is not None:
                central.on_le_disconnected(connection, _FAILED_TO_ESTABLISH)

        asyncio.get_running_loop().call_later(delay, fail)

    def _open(
        self,
        central: bumble_controller.Controller,
        packet: ll.ConnectInd,
        peripheral: bumble_controller.Controller,
    ) -> None:
        old = self._by_addresses.get(
            (packet.initiator_address.address_bytes, packet.advertiser_address.address_bytes)
        )
        if old is not None:
            old.close()
        connection = _LinkConnection(
            self,
            central,
            packet.initiator_address,
            peripheral,
            packet.advertiser_address,
            self.interval_for(packet.interval),
            max(packet.timeout, 10) * 0.010,
        )
        self.stats.connections += 1
        self._by_sender[(id(central), packet.advertiser_address.address_bytes)] = connection
        self._by_sender[(id(peripheral), packet.initiator_address.address_bytes)] = connection
        a, b = packet.initiator_address.address_bytes, packet.advertiser_address.address_bytes
        self._by_addresses[(a, b)] = connection
        self._by_addresses[(b, a)] = connection

    def forget(self, connection: _LinkConnection) -> None:
        for sender_key in [k for k, v in self._by_sender.items() if v is connection]:
            del self._by_sender[sender_key]
        for pair_key in [k for k, v in self._by_addresses.items() if v is connection]:
            del self._by_addresses[pair_key]

    def _ll_packets(self, octets: int) -> int:
        return max(1, math.ceil(octets / self.model.data_length))

    def send_acl_data_paced(
        self,
        sender_controller: bumble_controller.Controller,
        destination_address: hci.Address,
        data: bytes,
        on_sent: Callable[[], None],
    ) -> None:
        connection = self._by_sender.get((id(sender_controller), destination_address.address_bytes))
        if connection is None:
            logger.debug("ACL data for %s without a link connection: dropped", destination_address)
            return
        item = _Item(data, connection.loop.time(), self._ll_packets(len(data)), on_sent)
        connection.enqueue(connection.direction_from(sender_controller), item)

    def send_acl_data(
        self,
        sender_controller: bumble_controller.Controller,
        destination_address: hci.Address,
        transport: PhysicalTransport,
        data: bytes,
    ) -> None:
        if transport != PhysicalTransport.LE:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        self.send_acl_data_paced(sender_controller, destination_address, data, lambda: None)

    def send_ll_control_pdu(
        self, sender_address: hci.Address, receiver_address: hci.Address, packet: ll.ControlPdu
    ) -> None:
        connection = self._by_addresses.get(
            (sender_address.address_bytes, receiver_address.address_bytes)
        )
        if connection is None:
            logger.debug("LL control PDU %s without a link connection: dropped", packet)
            return
        direction = (
            connection.directions[0]
            if connection.directions[0].sender_address.address_bytes == sender_address.address_bytes
            else connection.directions[1]
        )
        connection.enqueue(direction, _Item(packet, connection.loop.time(), 1, None))

    def on_connection_lost(
        self, controller: bumble_controller.Controller, connection: bumble_controller.Connection
    ) -> None:
        """A controller forgot a connection (reset, host gone): its peer times out."""
        link_connection = self._by_sender.get(
            (id(controller), connection.peer_address.address_bytes)
        )
        if link_connection is None:
            return
        survivor = next(d.sender for d in link_connection.directions if d.sender is not controller)
        link_connection.drop_side(survivor, _CONNECTION_TIMEOUT)

    def remove_controller(self, controller: bumble_controller.Controller) -> None:
        if controller in self.controllers:
            super().remove_controller(controller)
