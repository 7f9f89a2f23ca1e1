"""The shared element list: node merging, element counts and names (the contract every backend reads)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xbarsim.circuit import CellModel, Crossbar, Network
from xbarsim.errors import InputError
from xbarsim.topology import build


def _count(topo, kind):
    return sum(g.n1.size for g in topo.resistors if g.kind == kind)


@settings(max_examples=30, deadline=None)
@given(
    m=st.integers(1, 5),
    n=st.integers(1, 5),
    r_wire=st.sampled_from([0.0, 1.0]),
    r_driver=st.sampled_from([0.0, 2.0]),
    r_sense=st.sampled_from([0.0, 3.0]),
    kind=st.sampled_from(["resistor", "diode", "1t1r"]),
    ref=st.booleans(),
)
def test_element_and_node_counts(m, n, r_wire, r_driver, r_sense, kind, ref) -> None:
    xb = Crossbar(
        np.full((m, n), 1e-3),
        cell=CellModel(kind),
        r_wire=r_wire,
        r_driver=r_driver,
        r_sense=r_sense,
        r_ref=10.0 if ref else None,
    )
    t = build(xb)
    assert _count(t, "cell") == m * n
    assert _count(t, "rw") == (m * (n - 1) if r_wire else 0)
    assert _count(t, "cw") == ((m - 1) * n if r_wire else 0)
    assert _count(t, "drv") == (m if r_driver else 0)
    assert _count(t, "sen") == (n if r_sense else 0)
    assert _count(t, "ref") == (n if ref else 0)
    assert sum(g.n1.size for g in t.diodes) == (m * n if kind == "diode" else 0)
    assert sum(g.d.size for g in t.mosfets) == (m * n if kind == "1t1r" else 0)
    # Nodes: ground + inputs + sense + rows + columns (+ cell-internal, + gate).
    rows = m * n if r_wire else m
    if not r_driver and not r_wire:
        rows = 0  # each row is its input node
    elif not r_driver:
        rows = m * (n - 1)  # r(i, 0) is the input node
    cols = (m * n if r_wire else n) - (0 if r_sense else n)  # r_sense = 0: last cells are the sense nodes
    extra = m * n if kind != "resistor" else 0
    gate = 1 if kind == "1t1r" else 0
    assert t.n_nodes == 1 + m + n + rows + cols + extra + gate
    # Every element index is a valid node; no element joins a node to itself.
    for g in t.resistors + t.diodes:
        assert (g.n1 != g.n2).all()
        assert g.n1.max() < t.n_nodes and g.n2.max() < t.n_nodes
    assert t.ammeter_layer == (None if ref else 0)


def test_names_are_deterministic_and_merged_nodes_keep_the_earliest_name() -> None:
    xb = Crossbar(np.full((2, 2), 1e-3), r_wire=1.0)
    t = build(xb)
    assert t.node_names == (
        "0",
        "in_0",
        "in_1",
        "s0_0",
        "s0_1",
        "r0_0_1",
        "r0_1_1",
        "c0_0_0",
        "c0_0_1",
    )
    assert build(xb).node_names == t.node_names
    assert t.node_name(int(t.sense_nodes[0][1])) == "s0_1"


def test_network_chains_sense_nodes_into_next_rows() -> None:
    l1 = Crossbar(np.full((3, 2), 1e-3), r_ref=100.0, cell=CellModel("diode"), name="l1")
    l2 = Crossbar(np.full((2, 4), 1e-3), r_driver=5.0, name="l2")
    t = build(Network((l1, l2)))
    drv = next(g for g in t.resistors if g.kind == "drv" and g.layer == 1)
    assert set(drv.n1.tolist()) == set(t.sense_nodes[0].tolist())
    assert t.ammeter_layer == 1
    assert len(t.sense_nodes) == 2


def test_network_validation() -> None:
    a = Crossbar(np.full((3, 2), 1e-3))
    with pytest.raises(InputError, match="needs r_ref"):
        Network((a, Crossbar(np.full((2, 1), 1e-3))))
    with pytest.raises(InputError, match="has 2 outputs but layer 1"):
        Network((a.replace(r_ref=10.0), Crossbar(np.full((3, 1), 1e-3))))


@pytest.mark.parametrize(
    "G,msg",
    [
        ([[1e-3, np.nan]], "non-finite"),
        ([[1e-3, np.inf]], "non-finite"),
        ([[1e-3, -1e-3]], ">= 0 siemens"),
        ([[1e-3, -0.0 - 1e-300]], ">= 0 siemens"),
        ([1e-3, 1e-3], "2-D"),
        (np.zeros((0, 3)), "2-D"),
    ],
)
def test_bad_conductances_are_rejected(G, msg) -> None:
    with pytest.raises(InputError, match=msg):
        Crossbar(G)


def test_bad_names_and_values_are_rejected() -> None:
    G = np.full((1, 1), 1e-3)
    for name in ("a b", "x\n.control", "1abc", "", "a.b"):
        with pytest.raises(InputError, match="crossbar name"):
            Crossbar(G, name=name)
    with pytest.raises(InputError, match="r_wire"):
        Crossbar(G, r_wire=float("nan"))
    with pytest.raises(InputError, match="r_ref"):
        Crossbar(G, r_ref=0.0)
    with pytest.raises(InputError, match="cell kind"):
        CellModel("memristor")  # type: ignore[arg-type]
