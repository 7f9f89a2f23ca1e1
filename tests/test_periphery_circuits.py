"""Drivers, buffered layers, transimpedance sensing and ADCs in circuits, on every backend.

Linear circuits are checked against the independent nodal reference of ``tests/test_wiring.py``
applied layer by layer (an ideal buffer decouples the layers exactly) to 1e-9; nonlinear (diode)
circuits against native at reltol 1e-7 to 1e-6. The golden buffered deck is regenerated with
``python tests/test_periphery_circuits.py --regenerate`` from the repository root.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from oracles import SPICE, reference

from xbarsim.backends import get_backend
from xbarsim.circuit import CellModel, Crossbar, Network, drive_inputs, periphery_nonlinear
from xbarsim.errors import InputError
from xbarsim.netlist import write_netlist
from xbarsim.periphery import ADC, Buffer, Driver
from xbarsim.solution import Solution, relative_error
from xbarsim.spice.rawfile import parse_raw
from xbarsim.spice.runner import run_deck

GOLDEN = Path(__file__).parent / "golden"
HEADER = (
    "* golden deck for tests/test_periphery_circuits.py; "
    "regenerate: python tests/test_periphery_circuits.py --regenerate\n"
)
ALL = ["native", *SPICE]


def _G(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    return rng.uniform(1e-4, 1e-3, (m, n))


def _buffered(rng: np.random.Generator, *, tia: bool = False, cell: str = "resistor") -> Network:
    first = {"r_tia": 220.0} if tia else {"r_ref": 300.0}
    l0 = Crossbar(_G(rng, 4, 3), cell=CellModel(cell), r_row=1.0, r_col=2.0, name="l0", **first)  # type: ignore[arg-type]
    l1 = Crossbar(_G(rng, 3, 2), cell=CellModel(cell), r_wire=1.5, r_driver=4.0, name="l1")
    return Network((l0, l1), coupling=Buffer(gain=2.5, offset=0.05, clamp=(-0.2, 0.6)))


def _reference_buffered(net: Network, V: np.ndarray) -> np.ndarray:
    l0, l1 = net.layers
    x = drive_inputs(net, V)
    kw0 = {"r_row": l0.r_row, "r_col": l0.r_col, "r_driver": l0.r_driver, "r_sense": l0.r_sense}
    kw1 = {"r_row": l1.r_row, "r_col": l1.r_col, "r_driver": l1.r_driver, "r_sense": l1.r_sense}
    if l0.r_tia is not None:
        sensed = reference(l0.G, x, **kw0) * l0.r_tia
    else:
        sensed = reference(l0.G, x, r_ref=l0.r_ref, **kw0)
    v1 = net.buffers[0].apply(sensed)
    return reference(l1.G, v1, r_ref=l1.r_ref, **kw1)


# ---------------------------------------------------------------------------------------- drivers
@pytest.mark.parametrize(
    "driver",
    [
        Driver(offset=0.3),
        Driver(offset=0.3, offset_inputs="active"),
        Driver(bits=3, v_min=0.0, v_max=0.7),
        Driver(offset=-0.1, bits=2, v_min=-0.5, v_max=1.0),
    ],
)
@pytest.mark.parametrize("backend", ALL)
def test_driver_on_a_wired_array_matches_the_reference(driver: Driver, backend: str) -> None:
    rng = np.random.default_rng(5)
    G = _G(rng, 4, 3)
    V = rng.uniform(0, 1, (5, 4))
    V[0, 1] = 0.0  # a dark input: "active" leaves it at 0 V
    xb = Crossbar(G, r_row=1.0, r_col=2.0, r_driver=3.0, driver=driver)
    want = reference(G, driver.apply(V), r_row=1.0, r_col=2.0, r_driver=3.0)
    assert relative_error(get_backend(backend).solve(xb, V).currents, want) <= 1e-9
    assert not np.array_equal(driver.apply(V), V)  # the driver did change something


def test_ideal_applies_the_driver_and_the_deck_carries_the_driven_voltages() -> None:
    rng = np.random.default_rng(2)
    G = _G(rng, 3, 2)
    drv = Driver(offset=0.65, offset_inputs="active")
    xb = Crossbar(G, driver=drv)
    V = np.array([[0.0, 1.0, 0.25]])
    np.testing.assert_array_equal(get_backend("ideal").solve(xb, V).currents, drv.apply(V) @ G)
    deck = write_netlist(xb, V)
    assert "Vin_0 in_0 0 DC 0.0\n" in deck and "Vin_1 in_1 0 DC 1.65\n" in deck
    assert "driver offset=0.65 on active rows" in deck


@pytest.mark.parametrize("backend", SPICE)
def test_driver_offset_on_diode_cells_agrees_with_native(backend: str) -> None:
    rng = np.random.default_rng(8)
    xb = Crossbar(_G(rng, 4, 3), cell=CellModel("diode"), r_wire=1.0, r_ref=100.0, driver=Driver(offset=0.65))
    V = rng.uniform(0, 1, (4, 4))
    got = get_backend(backend, options={"reltol": 1e-7}).solve(xb, V).outputs
    want = get_backend("native", reltol=1e-7).solve(xb, V).outputs
    assert relative_error(got, want) <= 1e-6


# ------------------------------------------------------------------------------------ buffers, TIA
@pytest.mark.parametrize("tia", [False, True])
@pytest.mark.parametrize("backend", ALL)
def test_buffered_network_matches_the_layer_by_layer_reference(tia: bool, backend: str) -> None:
    rng = np.random.default_rng(21)
    net = _buffered(rng, tia=tia)
    V = rng.uniform(0, 1, (6, 4))
    want = _reference_buffered(net, V)
    sol = get_backend(backend).solve(net, V)
    assert relative_error(sol.currents, want) <= 1e-9
    # the clamp is active on some outputs and not on others, so both branches are exercised
    l0 = net.layers[0]
    sensed = sol.layer_currents[0] * (l0.r_tia if tia else l0.r_ref)
    raw = 2.5 * sensed + 0.05
    assert np.any(raw > 0.6) and np.any(raw < 0.6)


@pytest.mark.parametrize("backend", SPICE)
def test_buffered_power_counts_inputs_and_buffers_like_native(backend: str) -> None:
    rng = np.random.default_rng(4)
    net = _buffered(rng, tia=True)
    V = rng.uniform(0, 1, (3, 4))
    native = get_backend("native").solve(net, V)
    spice = get_backend(backend).solve(net, V)
    assert relative_error(spice.power, native.power) <= 1e-9
    first = get_backend("native").solve(net.segments[0], V).power
    assert np.all(native.power > first)  # the buffers deliver power into layer 1 too


@pytest.mark.parametrize("backend", SPICE)
def test_buffered_diode_network_agrees_with_native(backend: str) -> None:
    rng = np.random.default_rng(9)
    l0 = Crossbar(_G(rng, 4, 3), cell=CellModel("diode"), r_wire=1.0, r_ref=500.0, driver=Driver(offset=0.65))
    l1 = Crossbar(_G(rng, 3, 2), cell=CellModel("diode"), r_wire=1.0, r_driver=2.0)
    net = Network((l0, l1), coupling=Buffer(gain=1.5, offset=0.3, clamp=(0.0, 1.0)))
    V = rng.uniform(0, 1, (4, 4))
    got = get_backend(backend, options={"reltol": 1e-7}).solve(net, V)
    want = get_backend("native", reltol=1e-7).solve(net, V)
    assert relative_error(got.currents, want.currents) <= 1e-6
    assert relative_error(got.layer_voltages[0], want.layer_voltages[0]) <= 1e-6
    raw = 1.5 * want.layer_voltages[0] + 0.3
    assert np.any(raw > 1.0) and np.any((raw < 1.0) & (raw > 0.65))  # clamped and conducting rows


def test_ideal_buffered_network_is_the_product_with_gains() -> None:
    rng = np.random.default_rng(1)
    l0 = Crossbar(_G(rng, 3, 2), r_tia=100.0)
    l1 = Crossbar(_G(rng, 2, 2), r_ref=10.0)
    l2 = Crossbar(_G(rng, 2, 1))
    net = Network((l0, l1, l2), coupling=(Buffer(gain=3.0, offset=0.1), "passive"))
    V = rng.uniform(0, 1, (4, 3))
    x1 = 3.0 * (V @ l0.G) * 100.0 + 0.1
    want = ((x1 @ l1.G) * 10.0) @ l2.G
    np.testing.assert_allclose(get_backend("ideal").solve(net, V).currents, want, rtol=1e-14)
    assert len(net.segments) == 2 and net.segments[1].layers == (l1, l2)


@pytest.mark.parametrize("backend", ALL)
def test_mixed_coupling_keeps_a_passive_boundary_inside_its_segment(backend: str) -> None:
    rng = np.random.default_rng(6)
    l0 = Crossbar(_G(rng, 3, 2), r_wire=1.0, r_ref=100.0)
    l1 = Crossbar(_G(rng, 2, 2), r_wire=1.0, r_ref=50.0)
    l2 = Crossbar(_G(rng, 2, 2), r_wire=1.0, r_driver=2.0)
    net = Network((l0, l1, l2), coupling=(Buffer(gain=2.0), "passive"))
    V = rng.uniform(0, 1, (3, 3))
    x1 = 2.0 * reference(l0.G, V, r_row=1.0, r_col=1.0, r_ref=100.0)
    seg = get_backend("native").solve(net.segments[1], x1).currents  # layers 1-2 as one passive circuit
    assert relative_error(get_backend(backend).solve(net, V).currents, seg) <= 1e-9


@pytest.mark.parametrize("backend", SPICE)
def test_node_voltages_of_a_buffered_network_agree(backend: str) -> None:
    rng = np.random.default_rng(13)
    net = _buffered(rng, tia=True)
    V = rng.uniform(0, 1, (3, 4))
    nodes = ("in_1", "r0_1_2", "c0_2_1", "b1_0", "r1_2_1", "c1_0_0", "0")
    want = get_backend("native").solve(net, V, nodes=nodes).node_voltages
    got = get_backend(backend).solve(net, V, nodes=nodes).node_voltages
    for name in nodes:
        assert relative_error(got[name], want[name]) <= 1e-9, name
    assert np.any(want["b1_0"] != 0.0)
    with pytest.raises(InputError, match="no node named 'b0_1'"):
        get_backend("native").solve(net, V, nodes=("b0_1",))


# ------------------------------------------------------------------------------------------ ADC
@pytest.mark.parametrize("backend", ["ideal", *ALL])
def test_adc_converts_outputs_and_keeps_the_analog_values(backend: str) -> None:
    rng = np.random.default_rng(3)
    G = _G(rng, 4, 3)
    V = rng.uniform(0, 1, (5, 4))
    plain = Crossbar(G, r_wire=1.0)
    analog = get_backend(backend).solve(plain, V).outputs
    adc = ADC(bits=4).calibrated(analog, per_column=True)
    kwargs = {"max_batch": 2} if backend in ("ngspice", "pyspice") else {}
    sol = get_backend(backend, **kwargs).solve(plain.replace(adc=adc), V)  # split batches concatenate
    np.testing.assert_allclose(sol.analog_outputs, analog, rtol=1e-12)
    np.testing.assert_array_equal(sol.outputs, adc.convert(sol.analog_outputs))
    assert sol.digital_outputs is not None and not np.array_equal(sol.outputs, sol.analog_outputs)
    assert len(np.unique(sol.outputs[:, 0])) <= 16


def test_concatenate_keeps_digital_outputs() -> None:
    parts = [
        Solution.from_layers(
            [np.ones((1, 2)) * k],
            [np.zeros((1, 2))],
            np.zeros(1),
            backend="x",
            seconds=0.0,
            sensed_by_voltage=False,
        )
        for k in (1, 2)
    ]
    import dataclasses

    parts = [dataclasses.replace(p, digital_outputs=p.currents * 10) for p in parts]
    joined = Solution.concatenate(parts, 0.0)
    np.testing.assert_array_equal(joined.outputs, [[10, 10], [20, 20]])
    np.testing.assert_array_equal(joined.analog_outputs, [[1, 1], [2, 2]])


# ------------------------------------------------------------------------------------- linearity
def test_gain_only_buffers_are_linear_and_their_transfer_matrix_is_exact() -> None:
    rng = np.random.default_rng(12)
    l0 = Crossbar(_G(rng, 4, 3), r_wire=1.0, r_tia=500.0)
    l1 = Crossbar(_G(rng, 3, 2), r_wire=1.0, r_driver=2.0)
    net = Network((l0, l1), coupling=Buffer(gain=1.7))
    V = rng.uniform(0, 1, (5, 4))
    for name in ("ideal", "native"):
        be = get_backend(name)
        assert be.is_linear(net)
        T = be.transfer_matrix(net)
        np.testing.assert_allclose(V @ T, be.solve(net, V).currents, rtol=1e-12)


@pytest.mark.requires_ngspice
def test_probed_transfer_matrix_of_a_buffered_network_in_ngspice() -> None:
    rng = np.random.default_rng(12)
    l0 = Crossbar(_G(rng, 4, 3), r_wire=1.0, r_tia=500.0)
    l1 = Crossbar(_G(rng, 3, 2), r_wire=1.0, r_driver=2.0)
    net = Network((l0, l1), coupling=Buffer(gain=1.7))
    be = get_backend("ngspice")
    assert be.is_linear(net)
    assert relative_error(be.transfer_matrix(net), get_backend("native").transfer_matrix(net)) <= 1e-9


@pytest.mark.parametrize(
    "change,part",
    [
        ({"driver": Driver(offset=0.1)}, "driver offset"),
        ({"driver": Driver(bits=4, v_min=0.0, v_max=1.0)}, "DAC"),
        ({"coupling": Buffer(gain=1.0, offset=0.2)}, "buffer offset"),
        ({"coupling": Buffer(gain=1.0, clamp=(0.0, 1.0))}, "buffer clamp"),
        ({"adc": ADC(bits=6, full_scale=1e-3)}, "ADC"),
    ],
)
@pytest.mark.parametrize(
    "backend", ["ideal", "native", pytest.param("ngspice", marks=pytest.mark.requires_ngspice)]
)
def test_nonlinear_periphery_has_no_transfer_matrix(change: dict, part: str, backend: str) -> None:
    rng = np.random.default_rng(0)
    l0 = Crossbar(_G(rng, 3, 2), r_ref=100.0, driver=change.get("driver", Driver()))
    l1 = Crossbar(_G(rng, 2, 2), adc=change.get("adc"))
    net = Network((l0, l1), coupling=change.get("coupling", Buffer()))
    assert periphery_nonlinear(net) == [part]
    be = get_backend(backend)
    assert not be.is_linear(net)
    with pytest.raises(InputError, match=part):
        be.transfer_matrix(net)


# ------------------------------------------------------------------------------------ validation
def test_bad_periphery_is_one_clear_error() -> None:
    G = np.full((2, 2), 1e-4)
    a, b = Crossbar(G, r_ref=10.0), Crossbar(G)
    cases = [
        (lambda: Network((a, b), coupling=(Buffer(), Buffer())), "2 entries for 1 layer boundaries"),
        (lambda: Network((a, b), coupling="buffered"), "must be 'passive' or a xbarsim.periphery.Buffer"),
        (lambda: Network((Crossbar(G), b), coupling=Buffer()), "needs r_ref .voltage. or r_tia"),
        (lambda: Crossbar(G, r_ref=10.0, r_tia=5.0), "cannot be combined with r_ref"),
        (lambda: Network((Crossbar(G, r_tia=5.0),)), "has r_tia but does not drive a buffer"),
        (lambda: Network((a, Crossbar(G, driver=Driver(offset=0.1)))), "only the first layer has inputs"),
        (lambda: Network((a.replace(adc=ADC(bits=3, full_scale=1.0)), b)), "only the last layer's outputs"),
        (lambda: Crossbar(G, adc=ADC(bits=3)), "has no full scale"),
        (lambda: Crossbar(G, adc=ADC(bits=3, full_scale=np.ones(3))), "3 per-column full scales for 2"),
        (lambda: Crossbar(G, driver="0.65"), "driver must be a xbarsim.periphery.Driver"),
        (lambda: Crossbar(G, r_tia=-1.0), "r_tia must be > 0"),
        (lambda: Buffer(gain=-1.0), "buffer gain must be > 0"),
        (lambda: Driver(offset=float("nan")), "must be finite"),
    ]
    for make, needle in cases:
        with pytest.raises(InputError, match=needle):
            make()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xbarsim", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture()
def gv(tmp_path):
    rng = np.random.default_rng(1)
    G = rng.uniform(1e-5, 1e-3, (4, 3))
    V = rng.uniform(0, 1, (2, 4))
    np.save(tmp_path / "G.npy", G)
    np.save(tmp_path / "V.npy", V)
    return tmp_path, G, V


def test_cli_driver_adc_and_wire_flags(gv) -> None:
    d, G, V = gv
    base = ["solve", "-G", str(d / "G.npy"), "-V", str(d / "V.npy"), "-o"]
    r = _cli(*base, str(d / "a.npy"), "--input-offset", "0.2", "--dac-bits", "3", "--dac-range", "0,1")
    assert r.returncode == 0, r.stderr
    drv = Driver(offset=0.2, bits=3, v_min=0.0, v_max=1.0)
    np.testing.assert_allclose(np.load(d / "a.npy"), drv.apply(V) @ G, rtol=1e-14)
    r = _cli(*base, str(d / "b.npy"), "--adc-bits", "4", "--adc-range", "1e-3")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(d / "b.npy"), ADC(bits=4, full_scale=1e-3).convert(V @ G))
    r = _cli(*base, str(d / "c.npy"), "--r-row", "1", "--r-col", "3", "--backend", "native")
    assert r.returncode == 0, r.stderr
    want = reference(G, V, r_row=1.0, r_col=3.0)
    assert relative_error(np.load(d / "c.npy"), want) <= 1e-9
    n = _cli(
        "netlist", "-G", str(d / "G.npy"), "-V", str(d / "V.npy"), "-o", "-", "--r-row", "2", "--r-col", "0.5"
    )
    assert n.returncode == 0 and "r_row=2.0 r_col=0.5" in n.stdout


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--dac-bits", "0", "--dac-range", "0,1"], "DAC bits must be an integer >= 1"),
        (["--dac-bits", "3"], "DAC bits need a range"),
        (["--dac-bits", "3", "--dac-range", "1,0"], "v_max > v_min"),
        (["--dac-bits", "3", "--dac-range", "x"], "--dac-range must look like LO,HI"),
        (["--input-offset", "nan"], "driver offset voltage must be finite"),
        (["--adc-bits", "4"], "--adc-bits needs --adc-range"),
        (["--adc-bits", "4", "--adc-range", "-1"], "ADC full scale must be a positive"),
        (["--adc-bits", "40", "--adc-range", "1"], "ADC bits must be an integer <= 24"),
        (["--r-wire", "1", "--r-row", "2"], "r_row=2.0 contradicts r_wire=1.0"),
        (["--r-col", "-1"], "r_col must be >= 0"),
    ],
)
def test_cli_bad_periphery_is_one_line_exit_2(gv, extra, needle) -> None:
    d, _, _ = gv
    r = _cli("solve", "-G", str(d / "G.npy"), "-V", str(d / "V.npy"), *extra)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xbarsim: error:") and needle in lines[0], r.stderr


# ---------------------------------------------------------------------------------------- golden
def _golden_cases() -> dict[str, str]:
    G0 = np.array([[1e-3, 2e-3], [5e-4, 0.0], [2.5e-4, 1e-4]])
    G1 = np.array([[1e-4, 3e-4], [2e-4, 0.0]])
    G2 = np.array([[4e-4], [6e-4]])
    net = Network(
        (
            Crossbar(
                G0,
                r_row=1.0,
                r_col=2.0,
                r_ref=100.0,
                driver=Driver(offset=0.1, offset_inputs="active"),
                name="a",
            ),
            Crossbar(G1, r_wire=0.5, r_driver=3.0, r_tia=1000.0, name="b"),
            Crossbar(G2, r_wire=0.5, name="c"),
        ),
        coupling=(Buffer(gain=2.0, offset=0.05, clamp=(-1.0, 1.0)), Buffer(gain=1.5)),
    )
    return {"network_buffered.cir": write_netlist(net, [[0.0, 0.4, 0.8], [0.9, 0.1, 0.5]], title="buffered")}


def regenerate() -> None:
    for name, text in _golden_cases().items():
        (GOLDEN / name).write_text(HEADER + text)


@pytest.mark.parametrize("name", sorted(_golden_cases()))
def test_golden_buffered_deck(name: str) -> None:
    expected = (GOLDEN / name).read_text()
    assert expected.startswith(HEADER)
    assert _golden_cases()[name] == expected[len(HEADER) :]


@pytest.mark.requires_ngspice
def test_golden_buffered_deck_runs_in_ngspice() -> None:
    deck = (GOLDEN / "network_buffered.cir").read_text().split("\n", 1)[1]
    raw = parse_raw(run_deck(deck).raw)
    assert raw.n_points == 2
    # the buffer after layer 0 put out gain * v + offset, clamped
    v = np.asarray(raw["v(s0_0)"])
    np.testing.assert_allclose(np.asarray(raw["v(b1_0)"]), np.clip(2.0 * v + 0.05, -1.0, 1.0), rtol=1e-12)


if __name__ == "__main__":
    if "--regenerate" in sys.argv:
        regenerate()
        print(f"wrote {', '.join(sorted(_golden_cases()))} in {GOLDEN}")
