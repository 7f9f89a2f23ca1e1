"""Kim 2024 as the paper drove it: input offset, buffered coupling, the q <= 4 seed pick.

Oracles: the closed-form Shockley and PWL node models (checked by hand-written bisection here),
the ideal law written out in the test, and real ngspice runs of the buffered path.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_ngspice

from xbarsim.backends import get_backend
from xbarsim.circuit import CellModel, Crossbar, DiodeModel, Network
from xbarsim.errors import InputError
from xbarsim.experiments import kim2024 as k
from xbarsim.mapping.kim import map_kim
from xbarsim.periphery import Buffer, Driver
from xbarsim.solution import relative_error

VTH = 0.65


def _small_net(rng_seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(rng_seed)
    return rng.normal(size=(25, 10)), rng.normal(size=(10, 10))


def test_driven_voltages_offset_rows() -> None:
    V = k.glyph_voltages(5, 1.0)
    lit = V > 0
    active = k.driven_voltages(V, Driver(offset=VTH, offset_inputs="active"))
    np.testing.assert_array_equal(active, np.where(lit, 1.0 + VTH, 0.0))
    every = k.driven_voltages(V, Driver(offset=VTH, offset_inputs="all"))
    np.testing.assert_array_equal(every, np.where(lit, 1.0 + VTH, VTH))
    assert k.CircuitDesign(input_offset=0.3).driver == Driver(offset=0.3, offset_inputs="active")


@pytest.mark.parametrize(
    "kw",
    [
        {"input_offset": float("nan")},
        {"input_offset": -0.1},
        {"input_offset": 11.0},
        {"coupling": "tight"},
        {"offset_inputs": "dark"},
    ],
)
def test_design_rejects(kw: dict) -> None:
    with pytest.raises(InputError):
        k.CircuitDesign(**kw)


def test_map_kim_records_periphery() -> None:
    W1, W2 = _small_net()
    m = map_kim(W1, W2, r_ref=1e3)
    assert m.driver.is_identity and m.buffer is None and m.coupling == "passive"
    b = Buffer(gain=2.0, offset=VTH)
    m2 = map_kim(W1, W2, r_ref=1e3, driver=Driver(offset=VTH), buffer=b)
    assert m2.buffer == b and m2.coupling == "buffered" and m2.driver.offset == VTH
    assert m2.network.coupling == b and m2.network.layers[0].driver == Driver(offset=VTH)
    again = m2.with_conductances([xb.G * 2 for xb in m2.network.layers])  # the periphery stays
    assert again.coupling == b and again.layers[0].driver == Driver(offset=VTH)
    with pytest.raises(InputError, match="driver"):
        map_kim(W1, W2, r_ref=1e3, driver=0.65)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="buffer"):
        map_kim(W1, W2, r_ref=1e3, buffer=2.0)  # type: ignore[arg-type]


def _bisect(f, lo: float, hi: float) -> float:
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


def test_buffered_pwl_model_against_bisection() -> None:
    """Unloaded layer 1 (each sense node's balance solved by bisection), then buffer and layer 2."""
    rng = np.random.default_rng(4)
    G1 = rng.uniform(1e-6, 1e-4, size=(25, 5))
    G2 = rng.uniform(1e-6, 1e-4, size=(5, 3))
    V = k.driven_voltages(k.glyph_voltages(5, 1.0), Driver(offset=VTH))
    buf = Buffer(gain=3.0, offset=0.2)
    out = k.passive_outputs(G1, G2, V, 2e3, VTH, buffer=buf)
    ref = np.zeros_like(out)
    for b in range(10):
        on = V[b] > VTH
        vh = []
        for j in range(5):
            gs = G1[on, j].sum()

            def f(x: float, gs: float = gs) -> float:
                return gs * max(1.0 + VTH - VTH - x, 0.0) - x / 2e3

            vh.append(_bisect(f, 0.0, 2.0))
        ref[b] = np.maximum(3.0 * np.array(vh) + 0.2 - VTH, 0.0) @ G2
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-15)


def _buffered_mapping(v_in: float, r_ref: float = 500.0, gain: float = 2.0) -> tuple:
    W1, W2 = _small_net()
    m = map_kim(
        W1, W2, r_ref=r_ref, bias_scale=0.1, driver=Driver(offset=VTH), buffer=Buffer(gain=gain, offset=VTH)
    )
    return m, k.glyph_voltages(5, v_in)


def test_solve_kim_ideal_is_the_closed_form_law() -> None:
    m, V = _buffered_mapping(1.0)
    assert m.driver.offset_inputs == "all"  # dark rows at 0.65 V: below threshold in the ideal law
    sol = k.solve_kim(m, V, "ideal")
    G1, G2 = (xb.G for xb in m.network.layers)
    # the ideal law written out: lit cells carry G (V_in + 0.65 - 0.65), r_ref reads I without loading
    vh = 500.0 * ((V > 0) * 1.0 @ G1)
    expect = np.maximum(2.0 * vh + VTH - VTH, 0.0) @ G2
    np.testing.assert_allclose(sol.currents, expect, rtol=1e-12)
    np.testing.assert_allclose(sol.layer_voltages[0], vh, rtol=1e-12)
    Vd = k.driven_voltages(V, m.driver)
    np.testing.assert_allclose(k.ideal_outputs(G1, G2, Vd, 500.0, VTH, buffer=m.buffer), expect, rtol=1e-12)
    passive = map_kim(*_small_net(), r_ref=500.0, bias_scale=0.1, driver=Driver(offset=VTH))
    G1p, G2p = (xb.G for xb in passive.network.layers)
    np.testing.assert_allclose(
        k.solve_kim(passive, V, "ideal").currents, k.ideal_outputs(G1p, G2p, Vd, 500.0, VTH), rtol=1e-12
    )


@pytest.mark.parametrize("v_in", [1.0, 5.0])
def test_solve_kim_buffered_native_equals_shockley_model(v_in: float) -> None:
    m, V = _buffered_mapping(v_in)
    sol = k.solve_kim(m, V, get_backend("native", gmin=0.0))
    G1, G2 = (xb.G for xb in m.network.layers)
    out, vh = k.shockley_outputs(G1, G2, k.driven_voltages(V, m.driver), 500.0, DiodeModel(), buffer=m.buffer)
    assert relative_error(sol.layer_voltages[0], vh) <= 1e-9
    assert relative_error(sol.currents, out) <= 1e-9
    assert len(sol.layer_currents) == 2 and sol.layer_currents[0].shape == (10, 21)


@requires_ngspice
@pytest.mark.parametrize("offset_inputs", ["active", "all"])
def test_solve_kim_in_ngspice_matches_shockley_model(offset_inputs: str) -> None:
    """Two real ngspice runs (buffered) and one (passive), with the offset drive, vs the node model."""
    W1, W2 = _small_net()
    drv = Driver(offset=VTH, offset_inputs=offset_inputs)  # type: ignore[arg-type]
    V = k.glyph_voltages(5, 1.0)
    Vd = k.driven_voltages(V, drv)
    for buf in (Buffer(gain=2.0, offset=VTH), None):
        m = map_kim(W1, W2, r_ref=500.0, bias_scale=0.1, driver=drv, buffer=buf)
        sol = k.solve_kim(m, V, "ngspice")
        assert sol.backend == "ngspice"
        G1, G2 = (xb.G for xb in m.network.layers)
        out, _ = k.shockley_outputs(G1, G2, Vd, 500.0, DiodeModel(), buffer=buf)
        np.testing.assert_allclose(sol.currents, out, rtol=1e-3, atol=1e-3 * np.abs(out).max())


def _two_stage(m, V: np.ndarray, be) -> np.ndarray:
    """The buffered circuit solved by hand as two independent circuits (the pre-spec wiring).

    Layer 1 alone at the driven voltages (its own drivers: V + 0.65 V on every row), then a bare
    layer 2 (no periphery) driven at ``gain * v_sense + offset`` of layer 1's r_ref voltages.
    """
    l1, l2 = m.network.layers
    s1 = be.solve(Network((l1.replace(driver=Driver()),)), V + VTH)
    bare = Network((Crossbar(l2.G, CellModel(kind="diode"), name="by_hand"),))
    return be.solve(bare, 2.0 * s1.voltages + VTH).currents


@pytest.mark.parametrize("v_in", [1.0, 10.0])
def test_spec_network_equals_two_stage_solve_native(v_in: float) -> None:
    """One ``solve`` of the mapping's network (driver + Buffer in the spec) = the two stages by hand."""
    m, V = _buffered_mapping(v_in)
    be = get_backend("native", gmin=0.0)
    assert m.network.buffers == {0: Buffer(gain=2.0, offset=VTH)} and m.network.layers[0].driver.offset == VTH
    assert relative_error(k.solve_kim(m, V, be).currents, _two_stage(m, V, be)) <= 1e-9


@requires_ngspice
def test_spec_network_equals_two_stage_solve_ngspice() -> None:
    """One real ngspice deck (B sources for the buffer) = two real ngspice runs by hand, at reltol 1e-7."""
    m, V = _buffered_mapping(5.0)
    be = get_backend("ngspice", options={"reltol": 1e-7})
    sol = k.solve_kim(m, V, be)
    assert sol.backend == "ngspice"
    assert relative_error(sol.currents, _two_stage(m, V, be)) <= 1e-6


def test_pick_seed_is_the_first_q4_seed() -> None:
    seed, q = k.pick_seed(5, max_levels=4, first=20, count=10)
    assert (seed, q) == k.pick_seed(5, max_levels=4, first=20, count=10)  # deterministic
    assert 20 <= seed < 30 and q <= 4
    search, _ = k.find_levels(k.train_model(5, seed).model(0))
    assert search.found and search.q == q  # the full search (max_q 40) ends at the same q
    for s in range(20, seed):  # every earlier seed of the range needs more levels
        earlier, _ = k.find_levels(k.train_model(5, s).model(0), max_q=4)
        assert not earlier.found
    with pytest.raises(InputError, match="q <= 1"):
        k.pick_seed(5, max_levels=1, first=0, count=2)


def test_paper_design_meets_the_paper_on_native() -> None:
    """Seed 32 (q = 4): all ten digits at 1, 5, 10 V; the largest gap <= 30 % at 1 V and falling."""
    res = k.run_kim2024(5, 32, backend="native", design=k.paper_design())
    assert res["q"] == 4 and res["coupling"] == "buffered" and res["input_offset"] == VTH
    per = res["per_voltage"]
    assert [per[v]["spice_accuracy"] for v in ("1", "5", "10")] == [1.0, 1.0, 1.0]
    gaps = [per[v]["max_current_gap"] for v in ("1", "5", "10")]
    assert gaps[0] <= 0.3 and gaps[0] > gaps[1] > gaps[2]
    for pv in per.values():
        assert pv["buffer_offset"] == VTH and pv["buffer_gain"] > 0
        assert pv["shockley_model_rel_error"] < 1e-6  # the calibration model is what native solves


def test_buffered_deck_carries_offset_sources_and_buffers() -> None:
    """The paper configuration's deck: lit rows at V_in + 0.65 V, dark at 0 V, one B source per row."""
    text = k.deck_text(5, 0, 1.0, settings=k.TrainSettings(epochs=50), design=k.paper_design())
    bufs = [ln for ln in text.splitlines() if ln.startswith("Bbuf0_")]
    assert len(bufs) == 21 and all("0.65" in ln for ln in bufs)
    assert "--coupling buffered" in text and "--input-offset 0.65" in text


@pytest.mark.parametrize("v_in", [1.0, 10.0])
def test_buffer_gain_maps_the_largest_hidden_voltage_to_v_in(v_in: float) -> None:
    W = list(_small_net())
    kc = k.map_circuit(W, v_in, k.paper_design(), 800.0, 0.1)
    assert kc.coupling == "buffered" and kc.buffer is not None and kc.buffer.offset == VTH
    Vd = k.driven_voltages(k.glyph_voltages(5, v_in), kc.driver)
    G1 = kc.network.layers[0].G
    vh = k.unloaded_hidden(G1, Vd, 800.0, VTH)
    gs = (Vd > VTH) @ G1  # unloaded PWL node: (V_in) gs = V_h (gs + 1/r_ref)
    np.testing.assert_allclose(vh, v_in * gs / (gs + 1 / 800.0), rtol=1e-12)
    assert kc.buffer.gain * vh.max() == pytest.approx(v_in, rel=1e-12)
    assert k.map_circuit(W, v_in, k.CircuitDesign(input_offset=VTH), 800.0, 0.1).buffer is None
