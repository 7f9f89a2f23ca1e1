"""PySpice (libngspice in-process) backend: same deck as the ngspice backend, same numbers."""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.backends import available_backends, get_backend
from xbarsim.backends.ngspice import NgspiceBackend
from xbarsim.backends.pyspice_backend import ENV_VAR, PySpiceBackend, find_libngspice, run_deck_shared
from xbarsim.circuit import CellModel, Crossbar, Network
from xbarsim.errors import ConvergenceError, InputError, SimulationError
from xbarsim.solution import relative_error
from xbarsim.spice.rawfile import parse_raw

pytestmark = [pytest.mark.requires_pyspice, pytest.mark.requires_ngspice]


def _circuits():
    rng = np.random.default_rng(99)
    G = rng.uniform(1e-5, 1e-4, (5, 4))
    return [
        ("resistor", Crossbar(G, r_wire=1.0, r_driver=3.0, r_sense=2.0), 0.0),
        ("diode", Crossbar(G, cell=CellModel("diode"), r_wire=1.0, r_ref=200.0), 0.5),
        ("1t1r", Crossbar(G, cell=CellModel("1t1r", v_gate=2.0), r_wire=1.0), 0.0),
        (
            "network",
            Network((Crossbar(G, r_ref=1000.0, r_wire=1.0), Crossbar(rng.uniform(1e-5, 1e-4, (4, 2))))),
            0.0,
        ),
    ]


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("case", _circuits(), ids=lambda c: c[0])
def test_pyspice_agrees_with_ngspice(case, batch: int) -> None:
    _, circuit, offset = case
    V = np.random.default_rng(batch).uniform(0.0, 1.0, (batch, 5)) + offset
    a = NgspiceBackend().solve(circuit, V)
    b = PySpiceBackend().solve(circuit, V)
    assert b.backend == "pyspice"
    assert relative_error(b.outputs, a.outputs) < 1e-9
    assert relative_error(b.power, a.power) < 1e-9
    for la, lb in zip(a.layer_currents, b.layer_currents):
        assert relative_error(lb, la) < 1e-9


def test_node_voltages_and_registry(capfd) -> None:
    xb = Crossbar(np.full((2, 3), 1e-4), r_wire=1.0)
    sol = get_backend("pyspice").solve(xb, [[0.4, 0.8]], nodes=("r0_1_2",))
    ref = NgspiceBackend().solve(xb, [[0.4, 0.8]], nodes=("r0_1_2",))
    assert sol.node_voltages["r0_1_2"][0] == pytest.approx(ref.node_voltages["r0_1_2"][0], rel=1e-12)
    assert "pyspice" in available_backends()
    # PySpice's "Unsupported Ngspice version" and ngspice's notes must not reach the console.
    assert capfd.readouterr().err == ""


def test_unknown_node_and_bad_options() -> None:
    with pytest.raises(InputError, match="unknown node"):
        PySpiceBackend().solve(Crossbar(np.full((1, 1), 1e-4)), [1.0], nodes=("x",))
    with pytest.raises(InputError, match="not allowed"):
        PySpiceBackend(options={"temp": 3})


def test_library_lookup_honours_the_environment(monkeypatch, tmp_path) -> None:
    assert find_libngspice() is not None
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.so"))
    assert find_libngspice() is None
    assert "libngspice" in (PySpiceBackend.unavailable_reason() or "")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))  # an existing path is taken as given
    assert find_libngspice() == str(tmp_path)


def test_failures_in_the_shared_library_are_typed_and_leave_it_usable() -> None:
    with pytest.raises(ConvergenceError, match="no convergence"):
        run_deck_shared("no solution\nB1 a 0 I=1+V(a)*V(a)\nR1 a 0 1e9\n.op\n.end\n")
    with pytest.raises(SimulationError):
        run_deck_shared("bad\nV1 a 0 1\nX1 a b nosuchsubckt\n.op\n.end\n")
    # gmin-stepping notes on stderr (PySpice would raise on them) are not a failure.
    data, console = run_deck_shared("gmin notes\nB1 a 0 I=sqrt(abs(V(a)))+1\nR1 a 0 1e9\n.op\n.end\n")
    assert "gmin" in console.lower() and parse_raw(data).n_points == 1
    sol = PySpiceBackend().solve(Crossbar(np.array([[1e-3]])), [2.0])
    assert sol.currents[0, 0] == pytest.approx(2e-3, rel=1e-12)
