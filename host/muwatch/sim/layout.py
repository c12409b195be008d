"""Electrode layouts: where each channel sits relative to the muscle.

Surface electrodes lie on the skin (depth 0) at a lateral position across the muscle (0 = over
its centre, the belly electrode of a belly-tendon montage). A needle sits inside the muscle.
`shift_mm` moves the whole layout sideways: repeated sessions never put electrodes back exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from muwatch.errors import UsageError
from muwatch.sim.muscles import Muscle

Kind = Literal["surface", "needle"]


@dataclass(frozen=True)
class Electrode:
    """One recording channel: monopolar against a distant reference (`ied_mm` 0) or, for surface
    channels, bipolar: minus a second electrode `ied_mm` further along the muscle fibres."""

    name: str
    kind: Kind
    lateral_mm: float
    depth_mm: float = 0.0
    ied_mm: float = 0.0


@dataclass(frozen=True)
class Layout:
    """The channels of a recording, in order."""

    name: str
    electrodes: tuple[Electrode, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.electrodes)

    def of_kind(self, kind: Kind) -> list[int]:
        """Indices of the channels of one kind."""
        return [i for i, e in enumerate(self.electrodes) if e.kind == kind]

    def shifted(self, lateral_mm: float = 0.0, depth_mm: float = 0.0) -> Layout:
        """The layout moved sideways (and needles deeper) by the given amounts."""
        moved = tuple(
            replace(
                e,
                lateral_mm=e.lateral_mm + lateral_mm,
                depth_mm=e.depth_mm + (depth_mm if e.kind == "needle" else 0.0),
            )
            for e in self.electrodes
        )
        return Layout(self.name, moved)


LAYOUTS = ("belly", "array8", "bipolar", "bipolar8", "needle", "needle+belly")
BIPOLAR_IED_MM = 10.0  # inter-electrode distance of a bipolar surface channel (SENIAM: 20 mm max)


def make_layout(name: str, m: Muscle, *, shift_mm: float = 0.0) -> Layout:
    """A named layout over muscle `m`: belly | array8 | bipolar | bipolar8 | needle | needle+belly.

    belly: one monopolar channel over the muscle centre (belly-tendon montage, for CMAPs);
    array8: 8 monopolar channels across the muscle against a common reference (the wearable's
    ADS1299 with SRB1); bipolar / bipolar8: the same with bipolar channels along the fibres.
    """
    mid_depth = float(np.mean(m.depth_mm))
    belly = Electrode("EMG1", "surface", 0.0)
    needle = Electrode("NDL1", "needle", 0.0, mid_depth)
    if name == "belly":
        lay = Layout(name, (belly,))
    elif name == "array8":
        pos = np.linspace(-0.6 * m.width_mm, 0.6 * m.width_mm, 8)
        lay = Layout(
            name, tuple(Electrode(f"EMG{i + 1}", "surface", float(p)) for i, p in enumerate(pos))
        )
    elif name == "bipolar":
        lay = Layout(name, (Electrode("EMG1", "surface", 0.0, 0.0, BIPOLAR_IED_MM),))
    elif name == "bipolar8":
        pos = np.linspace(-0.6 * m.width_mm, 0.6 * m.width_mm, 8)
        lay = Layout(
            name,
            tuple(
                Electrode(f"EMG{i + 1}", "surface", float(p), 0.0, BIPOLAR_IED_MM)
                for i, p in enumerate(pos)
            ),
        )
    elif name == "needle":
        lay = Layout(name, (needle,))
    elif name == "needle+belly":
        lay = Layout(name, (needle, belly))
    else:
        raise UsageError(f"unknown layout {name!r}; known layouts: {', '.join(LAYOUTS)}")
    return lay.shifted(shift_mm) if shift_mm else lay
