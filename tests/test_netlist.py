"""Netlist writer and model cards: golden decks, determinism, injection safety, topology check.

Golden decks live in tests/golden/; regenerate them (after a deliberate format change) with
``python tests/test_netlist.py --regenerate`` from the repository root.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xbarsim.circuit import CellModel, Crossbar, DiodeModel, Network, NmosModel
from xbarsim.errors import InputError, TopologyError
from xbarsim.netlist import (
    build_deck,
    check_options,
    check_topology,
    node_names,
    sanitize_title,
    write_netlist,
)
from xbarsim.spice.models import MODELS_DIR, library_text
from xbarsim.topology import build

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
HEADER = "* golden deck for tests/test_netlist.py; regenerate: python tests/test_netlist.py --regenerate\n"

#: Directives the writer may emit; any other line starting with '.' would be an injection.
DIRECTIVES = (".options ", ".model ", ".save ", ".dc ", ".op", ".end")


def _cases() -> dict[str, str]:
    G = np.array([[1e-3, 2e-3], [5e-4, 2.5e-4]])
    resistor = Crossbar(G, r_wire=1.5, r_driver=10.0, r_sense=2.0, name="xb")
    diode = Crossbar(
        G, cell=CellModel("diode", diode=DiodeModel(is_=2e-14, n=1.5)), r_wire=1.0, r_ref=100.0, name="dio"
    )
    net = Network(
        (
            Crossbar(
                G,
                cell=CellModel("1t1r", nmos=NmosModel(vto=0.4, lambda_=0.02), v_gate=2.5),
                r_wire=1.0,
                r_ref=1000.0,
                name="first",
            ),
            Crossbar(np.array([[1e-4], [3e-4]]), r_driver=5.0, name="second"),
        )
    )
    return {
        "resistor_2x2.cir": write_netlist(resistor, [0.1, 0.2], title="golden resistor"),
        "diode_2x2_batch3.cir": write_netlist(
            diode, [[0.8, 0.9], [1.0, 0.0], [0.7, 1.2]], options={"reltol": 1e-6, "itl1": 200}
        ),
        "network_1t1r_resistor.cir": write_netlist(net, [0.3, 0.6], nodes=("r1_0_0", "s0_1")),
    }


def regenerate() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, text in _cases().items():
        (GOLDEN / name).write_text(HEADER + text)


@pytest.mark.parametrize("name", sorted(_cases()))
def test_golden_decks(name: str) -> None:
    expected = (GOLDEN / name).read_text()
    assert expected.startswith(HEADER)
    assert _cases()[name] == expected[len(HEADER) :]


@pytest.mark.parametrize("kind,file", [("diode", "xbarsim_diode.lib"), ("nmos", "xbarsim_nmos.lib")])
def test_default_model_files_equal_generated_cards(kind: str, file: str) -> None:
    assert MODELS_DIR == ROOT / "models"
    assert (ROOT / "models" / file).read_text() == library_text(kind)


def test_deck_is_deterministic_and_names_are_unique() -> None:
    rng = np.random.default_rng(7)
    xb = Crossbar(
        rng.uniform(1e-6, 1e-4, (4, 3)), cell=CellModel("diode"), r_wire=1.0, r_driver=2.0, r_sense=3.0
    )
    V = rng.uniform(0, 1, (5, 4))
    a, b = write_netlist(xb, V), write_netlist(xb, V.copy())
    assert a == b
    elements = [ln.split()[0].lower() for ln in a.splitlines()[1:] if ln[:1].isalpha()]
    assert len(elements) == len(set(elements))
    assert (
        sum(e.startswith("rcell") for e in elements) == 12
        and sum(e.startswith("ddio") for e in elements) == 12
    )


def test_numbers_round_trip_exactly() -> None:
    G = np.array([[1 / 3 * 1e-4, np.nextafter(1e-5, 1)]])
    deck = write_netlist(Crossbar(G), [np.pi / 10])
    values = {float(ln.split()[-1]) for ln in deck.splitlines() if ln.startswith(("Rcell", "Vin"))}
    assert {1 / G[0, 0], 1 / G[0, 1], np.pi / 10} == values


def test_batch_deck_is_one_dc_sweep() -> None:
    xb = Crossbar(np.full((2, 2), 1e-4))
    deck = build_deck(xb, np.arange(10.0).reshape(5, 2))
    assert ".dc Vidx 0 4 1" in deck.text and "\n.op\n" not in deck.text
    assert deck.batch == 5 and deck.source_vectors == ("i(bin_0)", "i(bin_1)")
    assert build_deck(xb, [1.0, 2.0]).text.count("\n.op\n") == 1
    assert "Vin_0 in_0 0 DC 0.0" in write_netlist(xb)  # no V: inputs at 0 V


@settings(max_examples=60, deadline=None)
@given(title=st.text(min_size=0, max_size=60))
def test_no_title_can_inject_a_control_line(title: str) -> None:
    deck = write_netlist(Crossbar(np.full((1, 1), 1e-4)), [0.5], title=title)
    lines = deck.splitlines()
    assert lines[0].startswith("xbarsim deck: ")
    for ln in lines[1:]:
        assert ln[:1] in ("*", "+", "R", "V", "B", "D", "M") or ln.startswith(DIRECTIVES), ln
    assert sanitize_title(title) == sanitize_title(sanitize_title(title))


@pytest.mark.parametrize(
    "title", ["ok\n.control\nshell rm -rf /\n.endc", "\r.include /etc/passwd", "*\n+ .op", ".end", "x\x00y"]
)
def test_hostile_titles_stay_on_the_title_line(title: str) -> None:
    deck = write_netlist(Crossbar(np.full((1, 1), 1e-4)), [0.5], title=title)
    body = deck.splitlines()[1:]
    assert not any(ln.lstrip().lower().startswith((".control", "shell", ".include", ".endc")) for ln in body)
    assert sum(ln == ".end" for ln in body) == 1


@pytest.mark.parametrize(
    "options,match",
    [
        ({"temp": 100}, "not allowed"),
        ({"reltol\n.control": 1e-3}, "not allowed"),
        ({"reltol": "1e-3\n.control"}, "must be a number"),
        ({"reltol": float("nan")}, "finite"),
        ({"reltol": -1.0}, "> 0"),
        ({"itl1": 2.5}, "integer"),
        ({"gmin": True}, "must be a number"),
        ("reltol=1", "mapping"),
    ],
)
def test_bad_options_are_refused(options, match: str) -> None:
    with pytest.raises(InputError, match=match):
        check_options(options)
    with pytest.raises(InputError):
        write_netlist(Crossbar(np.full((1, 1), 1e-4)), [0.5], options=options)


def test_options_are_printed() -> None:
    deck = write_netlist(Crossbar(np.full((1, 1), 1e-4)), [0.5], options={"RELTOL": 1e-6, "itl1": 500})
    assert ".options temp=27 tnom=27 reltol=1e-06 itl1=500" in deck


@pytest.mark.parametrize("node", ["in_0\n.control", "r0_0_0", "nope", "", "0 .op"])
def test_unknown_or_hostile_node_names_are_refused(node: str) -> None:
    xb = Crossbar(np.full((2, 2), 1e-4))  # r_wire = 0: row nodes merge into in_i
    with pytest.raises(InputError, match="unknown node"):
        write_netlist(xb, [0.1, 0.2], nodes=(node,))


def test_hostile_names_cannot_reach_the_deck() -> None:
    with pytest.raises(InputError):
        Crossbar(np.full((1, 1), 1e-4), name="x\n.control")


def test_check_topology_accepts_every_built_circuit() -> None:
    G = np.full((3, 2), 1e-4)
    for kind in ("resistor", "diode", "1t1r"):
        for r in (0.0, 1.0):
            check_topology(build(Crossbar(G, cell=CellModel(kind), r_wire=r, r_driver=r, r_sense=r)))
            check_topology(build(Crossbar(G, cell=CellModel(kind), r_wire=r, r_ref=10.0)))
    check_topology(build(Network((Crossbar(G, r_ref=10.0), Crossbar(np.full((2, 2), 1e-4), r_wire=1.0)))))


def test_check_topology_names_a_dangling_node() -> None:
    topo = build(Crossbar(np.full((2, 2), 1e-4), cell=CellModel("diode")))
    broken = dataclasses.replace(topo, diodes=())  # cell resistors now end in nothing
    with pytest.raises(TopologyError, match=r"node m0_0_0 touches a single element"):
        check_topology(broken)


def test_check_topology_names_a_floating_node() -> None:
    topo = build(Crossbar(np.full((2, 2), 1e-4), cell=CellModel("diode")))
    broken = dataclasses.replace(
        topo, diodes=(), resistors=tuple(g for g in topo.resistors if g.kind != "cell")
    )
    with pytest.raises(TopologyError, match=r"node m0_0_0 has no DC path to ground"):
        check_topology(broken)


def test_check_topology_finds_an_element_shorted_on_itself() -> None:
    topo = build(Crossbar(np.full((2, 2), 1e-4), r_wire=1.0))
    g = next(g for g in topo.resistors if g.kind == "rw")
    bad = dataclasses.replace(g, n2=g.n1.copy())
    broken = dataclasses.replace(topo, resistors=tuple(bad if x is g else x for x in topo.resistors))
    with pytest.raises(TopologyError, match=r"Rrw0_0_0 has both ends on node in_0"):
        check_topology(broken)


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 4),
    n=st.integers(1, 4),
    r=st.sampled_from([0.0, 1.0]),
    kind=st.sampled_from(["resistor", "diode", "1t1r"]),
    two=st.booleans(),
)
def test_fast_node_names_equal_the_topology_names(m, n, r, kind, two) -> None:
    first = Crossbar(np.full((m, n), 1e-4), cell=CellModel(kind), r_wire=r, r_driver=r, r_sense=r, r_ref=5.0)
    circuit = Network((first, Crossbar(np.full((n, 2), 1e-4), r_driver=r))) if two else first
    topo = build(circuit)
    assert node_names(topo) == list(topo.node_names)


if __name__ == "__main__":
    if "--regenerate" in sys.argv:
        regenerate()
        print(f"wrote {', '.join(sorted(_cases()))} in {GOLDEN}")


def test_checked_topology_runs_once_per_circuit_object() -> None:
    """The networkx check is cached per circuit (weakly): same object -> same topology, no re-check."""
    import gc
    import weakref

    from xbarsim.netlist import _CHECKED, checked_topology

    xb = Crossbar(np.full((3, 2), 1e-4), r_wire=1.0)
    topo = checked_topology(xb)
    assert checked_topology(xb) is topo and xb in _CHECKED
    twin = Crossbar(np.full((3, 2), 1e-4), r_wire=1.0)  # equal content, another object: checked anew
    assert checked_topology(twin) is not topo
    ref = weakref.ref(xb)
    del xb
    gc.collect()
    assert ref() is None and any(k is twin for k in _CHECKED)
