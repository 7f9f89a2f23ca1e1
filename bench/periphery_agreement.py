"""Agreement table of the wiring and periphery elements: native, ngspice, pyspice vs references.

Linear circuits against the independent dense nodal reference of ``tests/test_wiring.py`` (layer
by layer for buffered networks); diode and 1T1R circuits against native at reltol 1e-7. The same
circuits as the tests, printed as a Markdown table of max |a - b| / max |b|.

    python bench/periphery_agreement.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_periphery_circuits import _G, _buffered, _reference_buffered
from test_wiring import CASES, _pattern, reference

from xbarsim.backends import get_backend
from xbarsim.circuit import CellModel, Crossbar, Network
from xbarsim.periphery import Buffer, Driver
from xbarsim.solution import relative_error

BACKENDS = ("native", "ngspice", "pyspice")


def _row(label: str, values: list[float]) -> None:
    print(f"| {label} | " + " | ".join(f"{v:.1e}" for v in values) + " |")


def main() -> None:
    print("| linear circuit (vs independent reference) | native | ngspice | pyspice |\n|---|---|---|---|")
    rng = np.random.default_rng(7)
    G = _pattern(rng, 5, 4)
    V = rng.uniform(-0.5, 1.0, (4, 5))
    worst = [0.0] * 3
    for case in CASES:
        want = reference(G, V, **case)
        worst = [
            max(w, relative_error(get_backend(b).solve(Crossbar(G, **case), V).outputs, want))
            for w, b in zip(worst, BACKENDS)
        ]
    _row("5x4, r_row != r_col, open cells + open row + open column, 5 wiring cases (max)", worst)
    for drv in (
        Driver(offset=0.3),
        Driver(offset=0.3, offset_inputs="active"),
        Driver(-0.1, bits=2, v_min=-0.5, v_max=1),
    ):
        rng = np.random.default_rng(5)
        G2 = _G(rng, 4, 3)
        V2 = rng.uniform(0, 1, (5, 4))
        V2[0, 1] = 0.0
        xb = Crossbar(G2, r_row=1.0, r_col=2.0, r_driver=3.0, driver=drv)
        want = reference(G2, drv.apply(V2), r_row=1.0, r_col=2.0, r_driver=3.0)
        label = f"driver offset {drv.offset} V ({drv.offset_inputs} rows), DAC bits {drv.bits}"
        _row(label, [relative_error(get_backend(b).solve(xb, V2).currents, want) for b in BACKENDS])
    for tia in (False, True):
        rng = np.random.default_rng(21)
        net = _buffered(rng, tia=tia)
        V3 = rng.uniform(0, 1, (6, 4))
        want = _reference_buffered(net, V3)
        label = f"2 layers, Buffer(gain 2.5, offset, clamp), {'r_tia' if tia else 'r_ref'} sensing"
        _row(label, [relative_error(get_backend(b).solve(net, V3).currents, want) for b in BACKENDS])
    print("\n| nonlinear circuit (vs native, reltol 1e-7) | ngspice | pyspice |\n|---|---|---|")
    spice = [get_backend(b, options={"reltol": 1e-7}) for b in BACKENDS[1:]]
    native = get_backend("native", reltol=1e-7)
    for kind in ("diode", "1t1r"):
        rng = np.random.default_rng(11)
        xb = Crossbar(
            _pattern(rng, 4, 4), cell=CellModel(kind), r_row=1.0, r_col=2.0, r_driver=1.5, r_ref=200.0
        )
        V4 = rng.uniform(0.5, 1.5, (3, 4))
        want = native.solve(xb, V4).outputs
        _row(f"4x4 {kind} with open cells", [relative_error(be.solve(xb, V4).outputs, want) for be in spice])
    rng = np.random.default_rng(9)
    l0 = Crossbar(_G(rng, 4, 3), cell=CellModel("diode"), r_wire=1.0, r_ref=500.0, driver=Driver(offset=0.65))
    l1 = Crossbar(_G(rng, 3, 2), cell=CellModel("diode"), r_wire=1.0, r_driver=2.0)
    net = Network((l0, l1), coupling=Buffer(gain=1.5, offset=0.3, clamp=(0.0, 1.0)))
    V5 = rng.uniform(0, 1, (4, 4))
    want = native.solve(net, V5).currents
    _row(
        "buffered diode network, +0.65 V driver",
        [relative_error(be.solve(net, V5).currents, want) for be in spice],
    )


if __name__ == "__main__":
    main()
