"""A small netlist model and electrical-rules check (ERC) for the muwatch sensor.

Why our own and not SKiDL: SKiDL needs KiCad's symbol libraries (not installable in CI
without a 1 GB KiCad) or parts defined in code anyway, and its ERC knows nothing about the
rules this project cares most about (every pin-map signal wired to the named ADS1299 pin,
patient leads behind a current-limiting resistor). So parts are defined here from their
datasheets, the design is plain Python, the ERC follows KiCad's pin-type matrix, and the
result is exported as a KiCad netlist (see kicad.py) that Pcbnew can import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class PinType(Enum):
    """Electrical pin types, named as in KiCad's netlist export."""

    INPUT = "input"
    OUTPUT = "output"
    BIDIRECTIONAL = "bidirectional"
    TRI_STATE = "tri_state"
    PASSIVE = "passive"
    POWER_IN = "power_in"
    POWER_OUT = "power_out"
    OPEN_COLLECTOR = "open_collector"
    NO_CONNECT = "no_connect"


DRIVERS = {
    PinType.OUTPUT,
    PinType.BIDIRECTIONAL,
    PinType.TRI_STATE,
    PinType.PASSIVE,
    PinType.POWER_OUT,
    PinType.OPEN_COLLECTOR,
}


@dataclass(frozen=True)
class PinDef:
    number: str
    name: str
    type: PinType


@dataclass(frozen=True)
class PartDef:
    """A part as its datasheet defines it (a KiCad 'libpart')."""

    name: str
    description: str
    manufacturer: str
    mpn: str
    footprint: str
    pins: tuple[PinDef, ...]
    datasheet: str = ""

    def pin(self, key: str) -> PinDef:
        """Find a pin by number or by unique name."""
        for p in self.pins:
            if p.number == key:
                return p
        named = [p for p in self.pins if p.name == key]
        if len(named) != 1:
            raise KeyError(f"{self.name}: no unique pin {key!r} (found {len(named)})")
        return named[0]


@dataclass
class Part:
    """One placed part (a component with a reference designator)."""

    ref: str
    definition: PartDef
    value: str
    no_connect: dict[str, str] = field(default_factory=dict)  # pin number -> reason
    patient_lead: set[str] = field(default_factory=set)  # pin numbers touching a person
    on_board: bool = True  # False for things in the BOM but not on the PCB
    qty: int = 1  # units one BOM line needs (off-board packs: electrodes, leads)

    def pin(self, key: str) -> PinDef:
        return self.definition.pin(key)


@dataclass
class Net:
    name: str
    nodes: list[tuple[Part, PinDef]] = field(default_factory=list)


@dataclass(frozen=True)
class ErcIssue:
    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


class Circuit:
    """Parts and nets; connect pins by name or number, then check()."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.parts: dict[str, Part] = {}
        self.nets: dict[str, Net] = {}
        # nets declared powered without a power-output pin on them (KiCad's PWR_FLAG), each
        # with the reason; check() verifies the reason holds (see _check_power_flags)
        self.power_flags: dict[str, str] = {}

    def add(
        self, ref: str, definition: PartDef, value: str = "", *, on_board: bool = True, qty: int = 1
    ) -> Part:
        if ref in self.parts:
            raise ValueError(f"duplicate reference {ref}")
        part = Part(ref, definition, value or definition.mpn, on_board=on_board, qty=qty)
        self.parts[ref] = part
        return part

    def connect(self, net: str, *pins: tuple[Part, str]) -> Net:
        """Put pins (part, pin number or name) on a net, creating it if needed."""
        n = self.nets.setdefault(net, Net(net))
        for part, key in pins:
            pin = part.pin(key)
            owner = self.net_of(part, pin.number)
            if owner is not None and owner.name != net:
                raise ValueError(f"{part.ref}.{pin.number} ({pin.name}) already on {owner.name}")
            if owner is None:
                n.nodes.append((part, pin))
        return n

    def no_connect(self, part: Part, key: str, reason: str) -> None:
        """Mark a pin deliberately unconnected (KiCad's no-connect flag), with the reason."""
        part.no_connect[part.pin(key).number] = reason

    def net_of(self, part: Part, number: str) -> Net | None:
        for n in self.nets.values():
            for p, pin in n.nodes:
                if p is part and pin.number == number:
                    return n
        return None

    def pins_on(self, net: str) -> list[tuple[str, str, str]]:
        """(ref, pin number, pin name) of every node on a net."""
        return [(p.ref, pin.number, pin.name) for p, pin in self.nets[net].nodes]

    def check(self) -> list[ErcIssue]:
        """The generic electrical rules; project rules live in rules.py."""
        issues: list[ErcIssue] = []
        for part in self.parts.values():
            if not part.on_board:
                continue
            for pin in part.definition.pins:
                net = self.net_of(part, pin.number)
                where = f"{part.ref}.{pin.number} ({pin.name})"
                if pin.number in part.no_connect:
                    if net is not None:
                        issues.append(
                            ErcIssue("nc-connected", where, f"marked no-connect but on {net.name}")
                        )
                    continue
                if pin.type is PinType.NO_CONNECT:
                    if net is not None:
                        issues.append(
                            ErcIssue("nc-connected", where, f"NC pin wired to {net.name}")
                        )
                    continue
                if net is None:
                    issues.append(
                        ErcIssue(
                            "unconnected", where, "pin is not connected and not marked no-connect"
                        )
                    )
        for net in self.nets.values():
            issues.extend(self._check_net(net))
        issues.extend(self._check_power_flags())
        return issues

    def powered(self, net: str) -> bool:
        """A net carries a power output pin."""
        return any(pin.type is PinType.POWER_OUT for _, pin in self.nets[net].nodes)

    def _check_power_flags(self) -> list[ErcIssue]:
        """A flag is honest only if the net is fed from off-board (the battery) or through a
        passive part (ferrite bead, switch) from a net that is itself powered or flagged."""
        issues: list[ErcIssue] = []
        for name, reason in self.power_flags.items():
            if name not in self.nets:
                issues.append(ErcIssue("power-flag", name, "flag on a net that does not exist"))
                continue
            if not reason.strip():
                issues.append(ErcIssue("power-flag", name, "flag without a reason"))
                continue
            if reason.startswith("off-board"):
                continue
            if not self._fed_through_passive(name, set()):
                issues.append(
                    ErcIssue(
                        "power-flag",
                        name,
                        f"flagged ({reason}) but no passive path to a powered net",
                    )
                )
        return issues

    def _fed_through_passive(self, name: str, seen: set[str]) -> bool:
        seen.add(name)
        for part, pin in self.nets[name].nodes:
            if pin.type is not PinType.PASSIVE or part.definition.footprint.startswith("Capacitor"):
                continue
            for other in part.definition.pins:
                net = self.net_of(part, other.number)
                if net is None or net.name in seen:
                    continue
                if self.powered(net.name):
                    return True
                flag = self.power_flags.get(net.name, "")
                if flag.startswith("off-board") or (
                    flag and self._fed_through_passive(net.name, seen)
                ):
                    return True
        return False

    def _check_net(self, net: Net) -> list[ErcIssue]:
        issues: list[ErcIssue] = []
        types = [pin.type for _, pin in net.nodes]
        refs = ", ".join(f"{p.ref}.{pin.number}" for p, pin in net.nodes)
        if len(net.nodes) < 2:
            issues.append(ErcIssue("single-pin", net.name, f"net has only {refs or 'no pins'}"))
        strong = [t for t in types if t in (PinType.OUTPUT, PinType.POWER_OUT)]
        if len(strong) > 1:
            issues.append(
                ErcIssue("driver-conflict", net.name, f"{len(strong)} outputs drive it ({refs})")
            )
        if PinType.OUTPUT in types and (
            PinType.TRI_STATE in types or PinType.OPEN_COLLECTOR in types
        ):
            issues.append(
                ErcIssue(
                    "driver-conflict",
                    net.name,
                    f"push-pull output with tri-state/open-collector ({refs})",
                )
            )
        if (
            PinType.POWER_IN in types
            and PinType.POWER_OUT not in types
            and net.name not in self.power_flags
        ):
            issues.append(
                ErcIssue(
                    "power-unpowered", net.name, f"power input pins but no power output ({refs})"
                )
            )
        if PinType.INPUT in types and not any(t in DRIVERS for t in types):
            issues.append(
                ErcIssue("input-undriven", net.name, f"inputs but nothing drives them ({refs})")
            )
        return issues
