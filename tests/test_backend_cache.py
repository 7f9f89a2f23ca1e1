"""Caches owned by the backends: shared instances in xs.solve, transfer matrices, Solution.ignored.

Oracles: direct solves of the same backend (``V @ T`` must equal ``solve(circuit, V).currents``:
ideal exactly, native to 1e-12, ngspice -- a real run -- to 1e-9), and cache state (the same
objects come back; nothing is factored again), never timings.
"""

from __future__ import annotations

import gc
import logging
import threading

import numpy as np
import pytest
from conftest import requires_ngspice

import xbarsim as xs
from xbarsim.backends import clear_shared, get_backend, shared_backend
from xbarsim.backends import ideal as ideal_module
from xbarsim.backends.base import BackendBase, CircuitCache
from xbarsim.circuit import CellModel, Crossbar, Network
from xbarsim.devices import preset
from xbarsim.errors import InputError
from xbarsim.mapping import TILE_CACHE, TileSolver, augment, layer_forward, map_matrix
from xbarsim.solution import relative_error


def _xbar(rng, m=6, n=4, **kw):
    return Crossbar(rng.uniform(1e-5, 1e-4, (m, n)), **kw)


def _net(rng):
    l1 = Crossbar(rng.uniform(1e-5, 1e-4, (5, 3)), r_ref=2e3, r_wire=1.0, r_driver=3.0, name="a")
    l2 = Crossbar(rng.uniform(1e-5, 1e-4, (3, 2)), r_wire=2.0, r_sense=4.0, name="b")
    return Network((l1, l2))


def test_second_solve_reuses_the_instance_and_its_factorization():
    clear_shared()
    rng = np.random.default_rng(0)
    xb = _xbar(rng, 12, 10, r_wire=1.0, r_driver=2.0)
    V1, V2 = rng.uniform(0, 0.2, (5, 12)), rng.uniform(0, 0.2, (7, 12))
    first = xs.solve(xb, V1)  # default backend: native
    assert first.backend == "native" and first.ignored == ()
    be = shared_backend("native")
    entry = be._cache[id(xb)]  # type: ignore[attr-defined]
    factored = entry.transfers[()]
    second = xs.solve(xb, V2)
    assert shared_backend("native") is be
    assert be._cache[id(xb)] is entry and entry.transfers[()] is factored  # nothing factored again
    assert len(entry.transfers) == 1
    np.testing.assert_allclose(second.currents, get_backend("native").solve(xb, V2).currents, rtol=1e-12)
    # other options, other instance; an instance with options is a contradiction
    assert shared_backend("native", {"mos": "linear"}) is not be
    assert shared_backend("native", {"mos": "linear"}) is shared_backend("native", {"mos": "linear"})
    with pytest.raises(InputError, match="backend name"):
        xs.solve(xb, V1, be, options={"mos": "linear"})
    other: list = []
    worker = threading.Thread(target=lambda: other.append(shared_backend("native")))
    worker.start()
    worker.join()
    assert other[0] is not be  # each thread has its own instances (their caches are not locked)
    clear_shared()
    assert shared_backend("native") is not be


@requires_ngspice
def test_ngspice_options_are_shared_by_value():
    a = shared_backend("ngspice", {"options": {"reltol": 1e-6}, "max_batch": 10})
    b = shared_backend("ngspice", {"max_batch": 10, "options": {"reltol": 1e-6}})
    assert a is b and a is not shared_backend("ngspice", {"options": {"reltol": 1e-5}, "max_batch": 10})


@pytest.mark.parametrize("cell", ["resistor", "1t1r-on", "1t1r-off"])
def test_ideal_transfer_matrix_is_exact(cell):
    rng = np.random.default_rng(1)
    cm = {
        "resistor": CellModel("resistor"),
        "1t1r-on": CellModel("1t1r", v_gate=3.3),
        "1t1r-off": CellModel("1t1r", v_gate=0.1),
    }[cell]
    xb = _xbar(rng, cell=cm, r_wire=1.0)
    be = get_backend("ideal")
    V = rng.uniform(-1, 1, (9, 6))
    T = be.transfer_matrix(xb)
    assert np.array_equal(V @ T, be.solve(xb, V).currents)
    assert be.transfer_matrix(xb) is T


def test_ideal_network_transfer_and_diode_refusal():
    rng = np.random.default_rng(2)
    net = _net(rng)
    be = get_backend("ideal")
    V = rng.uniform(0, 1, (4, 5))
    assert relative_error(V @ be.transfer_matrix(net), be.solve(net, V).currents) < 1e-14
    diode = _xbar(rng, cell=CellModel("diode"))
    assert not be.is_linear(diode) and be.is_linear(net)
    with pytest.raises(InputError, match="threshold"):
        be.transfer_matrix(diode)


@pytest.mark.parametrize("which", ["wires", "r_ref", "network", "1t1r-linear"])
def test_native_transfer_matrix_matches_direct_solves(which):
    rng = np.random.default_rng(3)
    opts = {"mos": "linear"} if which == "1t1r-linear" else {}
    circuit = {
        "wires": _xbar(rng, r_wire=1.5, r_driver=10.0, r_sense=5.0),
        "r_ref": _xbar(rng, r_wire=1.0, r_ref=1e3),
        "network": _net(rng),
        "1t1r-linear": _xbar(rng, cell=CellModel("1t1r"), r_wire=0.5),
    }[which]
    be = get_backend("native", **opts)
    assert be.is_linear(circuit)
    m0 = circuit.n_inputs
    V = rng.uniform(-0.3, 0.3, (8, m0))
    T = be.transfer_matrix(circuit)
    assert T.shape == (m0, circuit.n_outputs)
    assert relative_error(V @ T, be.solve(circuit, V).currents) < 1e-12


def test_native_nonlinear_has_no_transfer_matrix():
    rng = np.random.default_rng(4)
    be = get_backend("native")  # mos="level1"
    for cell in (CellModel("diode"), CellModel("1t1r")):
        xb = _xbar(rng, cell=cell)
        assert not be.is_linear(xb)
        with pytest.raises(InputError, match="linear"):
            be.transfer_matrix(xb)


@requires_ngspice
def test_ngspice_probed_transfer_matrix_matches_direct_solves():
    """Generic BackendBase probe (one ngspice run of the unit vectors and two check vectors)."""
    rng = np.random.default_rng(5)
    xb = _xbar(rng, 5, 4, r_wire=2.0, r_driver=5.0, r_sense=3.0)
    be = get_backend("ngspice")
    T = be.transfer_matrix(xb)
    assert be.transfer_matrix(xb) is T  # cached: no second run
    V = rng.uniform(0, 0.3, (6, 5))
    assert relative_error(V @ T, be.solve(xb, V).currents) < 1e-9
    assert relative_error(T, get_backend("native").transfer_matrix(xb)) < 1e-9
    nonlinear = _xbar(rng, cell=CellModel("1t1r"))
    assert not be.is_linear(nonlinear)
    with pytest.raises(InputError, match="not linear"):
        be.transfer_matrix(nonlinear)


def test_circuit_cache_is_an_lru_that_forgets_dead_circuits():
    rng = np.random.default_rng(6)
    size = [2]
    cache: CircuitCache[int] = CircuitCache(lambda: size[0])
    a, b, c = (_xbar(rng) for _ in range(3))
    cache.put(a, 1)
    cache.put(b, 2)
    assert cache.get(a) == 1  # a is now the most recent
    cache.put(c, 3)  # evicts b
    assert b not in cache and a in cache and c in cache
    del c
    gc.collect()
    assert len(cache) == 1
    size[0] = 5
    for k in range(4):
        cache.put(_xbar(rng), k)  # dies at once: never kept
    assert len(cache) == 1 and cache.get(a) == 1


def test_tile_solver_asks_the_backend_and_keeps_no_cache():
    rng = np.random.default_rng(7)
    W, b = rng.normal(size=(20, 9)), rng.normal(size=9)
    layer = map_matrix(augment(W, b), preset("hfo2-1t1r-8"), tile=8, cell=CellModel("resistor"), r_wire=1.0)
    solver = TileSolver("native")
    assert solver.backend.cache_size >= TILE_CACHE
    X = rng.random((4, 20))
    Y = layer_forward(layer, X, solver)
    assert len(solver.backend._cache) == len(layer.tiles) > 8  # type: ignore[attr-defined]
    assert not any(isinstance(v, dict) for v in vars(solver).values())
    direct = layer_forward(layer, X, TileSolver("native", linear=False))
    assert relative_error(Y, direct) < 1e-12


class _Doubler(BackendBase):
    """A linear backend built on solve alone: the generic probe must find T = 2 G."""

    name = "doubler"

    def solve(self, circuit, V, *, nodes=()):
        sol = get_backend("ideal").solve(circuit, V)
        return type(sol)(
            2 * sol.currents, sol.voltages, sol.layer_currents, sol.layer_voltages, sol.power, "x"
        )


def test_generic_probe_and_cache_size():
    rng = np.random.default_rng(8)
    be = _Doubler()
    be.cache_size = 1
    a, b = _xbar(rng), _xbar(rng)
    np.testing.assert_allclose(be.transfer_matrix(a), 2 * a.G, rtol=1e-15)
    Ta = be.transfer_matrix(a)
    be.transfer_matrix(b)
    assert be.transfer_matrix(a) is not Ta  # evicted by b, probed again


def test_ideal_says_what_it_ignored_and_warns_once(monkeypatch, caplog):
    monkeypatch.setattr(ideal_module, "_WARNED", set())
    rng = np.random.default_rng(9)
    plain = _xbar(rng)
    wired = _xbar(rng, r_wire=1.0, r_sense=2.0, cell=CellModel("1t1r"))
    V = rng.uniform(0, 0.2, (3, 6))
    with caplog.at_level(logging.WARNING, logger="xbarsim.backends.ideal"):
        assert xs.solve(plain, V, "ideal").ignored == ()
        assert not caplog.records
        first = xs.solve(wired, V, "ideal")
        xs.solve(wired, V, "ideal")
    assert first.ignored == ("r_wire", "r_sense", "transistor")
    assert len(caplog.records) == 1 and "r_wire, r_sense, transistor" in caplog.records[0].getMessage()
    assert xs.solve(_net(rng), rng.uniform(0, 1, (2, 5)), "ideal").ignored == (
        "r_wire",
        "r_driver",
        "r_sense",
        "r_ref",
    )
    assert xs.solve(_xbar(rng, cell=CellModel("diode")), V, "ideal").ignored == ("diode",)
    assert xs.solve(wired, V, "native").ignored == ()
