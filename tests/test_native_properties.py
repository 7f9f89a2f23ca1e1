"""Property tests of the native solver (hypothesis, small arrays, few examples).

* r_wire -> 0 gives the ideal product V @ G;
* outputs are linear in V for linear cells (resistor, 1T1R with mos="linear");
* KCL holds at every free node of diode and 1T1R arrays (element list + model card equations);
* neither the delivered power nor the total output current grows when the wire, driver or sense
  resistance grows (resistor arrays, non-negative inputs); see that test for why per-column
  currents can grow.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import all_nodes, kcl_residual

from xbarsim.backends import get_backend
from xbarsim.circuit import CellModel, Crossbar
from xbarsim.solution import relative_error

SETTINGS = settings(max_examples=12, deadline=None)

shapes = st.tuples(st.integers(1, 6), st.integers(1, 6))
seeds = st.integers(0, 2**32 - 1)


def _array(seed: int, shape: tuple[int, int], **kw) -> tuple[Crossbar, np.random.Generator]:
    rng = np.random.default_rng(seed)
    return Crossbar(G=rng.uniform(1e-6, 1e-4, shape), **kw), rng


@SETTINGS
@given(shape=shapes, seed=seeds, r_wire=st.floats(1e-9, 1e-6))
def test_vanishing_wires_give_ideal_product(shape, seed, r_wire) -> None:
    xb, rng = _array(seed, shape, r_wire=r_wire)
    V = rng.uniform(-1, 1, (3, shape[0]))
    got = get_backend("native").solve(xb, V).currents
    # First-order wire error: r_wire * (sum of the conductances a current crosses) << 1e-6.
    assert relative_error(got, V @ xb.G) <= 1e-6


@SETTINGS
@given(
    shape=shapes,
    seed=seeds,
    r_wire=st.one_of(st.just(0.0), st.floats(1e-3, 10.0)),
    linear_mos=st.booleans(),
    a=st.floats(-3, 3),
    b=st.floats(-3, 3),
)
def test_linear_cells_are_linear_in_v(shape, seed, r_wire, linear_mos, a, b) -> None:
    cell = CellModel(kind="1t1r") if linear_mos else CellModel()
    xb, rng = _array(seed, shape, r_wire=r_wire, r_driver=1.0, cell=cell)
    be = get_backend("native", mos="linear")
    V1, V2 = rng.uniform(-1, 1, (2, 2, shape[0]))
    lhs = be.solve(xb, a * V1 + b * V2).currents
    rhs = a * be.solve(xb, V1).currents + b * be.solve(xb, V2).currents
    scale = max(np.abs(be.solve(xb, V1).currents).max(), np.abs(be.solve(xb, V2).currents).max())
    assert np.max(np.abs(lhs - rhs)) <= 1e-12 * scale * (abs(a) + abs(b) + 1)


@SETTINGS
@given(
    shape=shapes,
    seed=seeds,
    kind=st.sampled_from(["diode", "1t1r"]),
    r_wire=st.floats(0.1, 10.0),
    v_gate=st.floats(0.8, 3.3),
)
def test_kcl_residual_is_zero(shape, seed, kind, r_wire, v_gate) -> None:
    rng = np.random.default_rng(seed)
    xb = Crossbar(
        G=rng.uniform(1e-5, 1e-3, shape),
        cell=CellModel(kind=kind, v_gate=v_gate),
        r_wire=r_wire,
        r_driver=2.0,
        r_sense=1.0,
    )
    V = rng.uniform(-1, 4, (2, shape[0]))
    sol = get_backend("native", reltol=1e-6).solve(xb, V, nodes=all_nodes(xb))
    for k in range(2):
        assert kcl_residual(xb, sol, k) <= 1e-9


@SETTINGS
@given(
    shape=shapes,
    seed=seeds,
    r0=st.one_of(st.just(0.0), st.floats(1e-3, 20.0)),
    grow=st.floats(0.01, 50.0),
    which=st.sampled_from(["r_wire", "r_driver", "r_sense"]),
)
def test_delivered_power_and_total_current_never_grow(shape, seed, r0, grow, which) -> None:
    """Rayleigh monotonicity: raising any resistance lowers the power the sources deliver.

    Per-column currents are *not* monotone: a larger row-wire resistance starves the far columns,
    so less current crosses the first segments and the near columns see a higher row voltage
    (measured: +0.7 % in random 6 x 6 arrays). Total output current and power never grow.
    """
    rng0 = np.random.default_rng(seed)
    base = {k: float(rng0.uniform(0, 5)) for k in ("r_wire", "r_driver", "r_sense")}
    xb, rng = _array(seed, shape, **{**base, which: r0})
    V = rng.uniform(0, 1, (3, shape[0]))
    be = get_backend("native")
    before = be.solve(xb, V)
    after = be.solve(xb.replace(**{which: r0 + grow}), V)
    assert np.all(after.power <= before.power * (1 + 1e-12))
    tot_b, tot_a = before.currents.sum(axis=1), after.currents.sum(axis=1)
    assert np.all(tot_a <= tot_b * (1 + 1e-12))
