"""Device level tables: the nominal conductance of each programmable level of a memristor cell.

A :class:`LevelTable` is what the mapping needs from a device: an ascending list of nominal
conductances (one per programmable level) and the read voltage at which they were characterised.
Measured distributions around these nominal values (for Monte-Carlo) are drawn elsewhere
(``xbarsim.variability``); here only the nominal table lives, so that mapping stays deterministic.

The presets ``hfo2-1t1r-2`` ... ``hfo2-1t1r-5`` (M-ISPVA programming) and ``hfo2-1t1r-8``
(IGVVA, read currents below 50 uA) follow the kind of HfO2 1T1R cells used by Romero-Zaliz et
al. (Electronics 2021, 10, 346) but their numbers are ILLUSTRATIVE, not measured: nominal read
currents evenly spaced from 5 uA to 40 uA at a 0.2 V read voltage, i.e. 25 uS ... 200 uS.
Replace them with measured tables (``LevelTable(..., illustrative=False)``) when data is loaded.

These tables are the one source of the presets' numbers: the level-distribution CSVs of
``xbarsim/data/levels`` are generated around them (each level's median is the nominal value here;
``xbarsim/data/levels/make_presets.py``), not the other way round, because the mapping needs exact,
documented targets while the spreads are only illustrative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_int, check_real
from .errors import InputError

#: Read voltage of the illustrative presets (volts).
V_READ = 0.2
#: Lowest and highest nominal read current of the illustrative presets (amperes).
I_READ_MIN = 5e-6
I_READ_MAX = 40e-6


@dataclass(frozen=True, eq=False)
class LevelTable:
    """Nominal conductance of each programmable level of one device type.

    Attributes
    ----------
    name:
        Preset or user name of the table.
    conductances:
        Nominal level conductances in siemens, strictly ascending, all > 0 (at least 2 levels).
    v_read:
        Read voltage (volts) at which the levels are defined; also the voltage the mapping
        applies for a binary input of 1.
    illustrative:
        True when the numbers are placeholders rather than measurements.
    source:
        Where the numbers come from (free text for reports).
    """

    name: str
    conductances: tuple[float, ...]
    v_read: float = V_READ
    illustrative: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError("a level table needs a non-empty name")
        try:
            g = np.array(self.conductances, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise InputError(f"conductances of level table {self.name!r} must be numbers") from None
        if g.size < 2:
            raise InputError(f"level table {self.name!r} needs at least 2 levels, got {g.size}")
        if not np.all(np.isfinite(g)) or np.any(g <= 0):
            raise InputError(f"conductances of level table {self.name!r} must be finite and > 0 siemens")
        if np.any(np.diff(g) <= 0):
            raise InputError(f"conductances of level table {self.name!r} must be strictly ascending")
        object.__setattr__(self, "conductances", tuple(float(x) for x in g))
        object.__setattr__(self, "v_read", check_real(self.v_read, "read voltage", positive=True))

    @property
    def n_levels(self) -> int:
        return len(self.conductances)

    @property
    def g_array(self) -> np.ndarray:
        """Conductances as a float64 array (a fresh copy)."""
        return np.array(self.conductances, dtype=np.float64)

    @property
    def g_min(self) -> float:
        return self.conductances[0]

    @property
    def g_max(self) -> float:
        return self.conductances[-1]

    @property
    def read_currents(self) -> np.ndarray:
        """Nominal read current of each level at ``v_read`` (amperes)."""
        return self.g_array * self.v_read


def _even_currents(n: int) -> tuple[float, ...]:
    return tuple(float(i) / V_READ for i in np.linspace(I_READ_MIN, I_READ_MAX, n))


_SRC = (
    "ILLUSTRATIVE: nominal read currents evenly spaced 5-40 uA at 0.2 V (25-200 uS), "
    "after the HfO2 1T1R cells of Romero-Zaliz et al. 2021; not measured data"
)

PRESETS: dict[str, LevelTable] = {
    **{
        f"hfo2-1t1r-{n}": LevelTable(
            f"hfo2-1t1r-{n}", _even_currents(n), V_READ, True, f"{_SRC}; {n} levels by M-ISPVA"
        )
        for n in (2, 3, 4, 5)
    },
    "hfo2-1t1r-8": LevelTable(
        "hfo2-1t1r-8", _even_currents(8), V_READ, True, f"{_SRC}; 8 levels by IGVVA (< 50 uA read current)"
    ),
}


def preset(name: str) -> LevelTable:
    """The level table called ``name``; raise :class:`InputError` listing the presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown level table {name!r}; presets: {', '.join(PRESETS)}") from None


def preset_for_levels(k: int) -> LevelTable:
    """The HfO2 preset with ``k`` levels, or an illustrative table of ``k`` evenly spaced levels.

    Quantization may ask for any k in 2..8; the presets cover 2, 3, 4, 5 and 8. For the others an
    evenly spaced illustrative table over the same 25-200 uS range is returned.
    """
    k = check_int(k, "number of levels", minimum=2)
    name = f"hfo2-1t1r-{k}"
    if name in PRESETS:
        return PRESETS[name]
    return LevelTable(name, _even_currents(k), V_READ, True, f"{_SRC}; {k} evenly spaced levels")
