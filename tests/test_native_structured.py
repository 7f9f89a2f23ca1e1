"""The structured crossbar LU (native/blocktri.py) and the compiled chord kernels (native/kernels.py).

Oracles:
* ``scipy.sparse.linalg.spsolve`` of the very Jacobian the structured LU was built from (float64
  path: relative error <= 1e-11; float32 block sweeps: <= 1e-4, the bound ``from_plan`` checks).
* Each numba kernel against its NumPy twin on random data (same expressions; <= 1e-13 relative,
  exact for the pure data movement).
* The chord iteration on the structured path against today's full Newton (``reltol = 1e-8``),
  and the NumPy-only fallback (``XBARSIM_NO_NUMBA=1``, a real subprocess) against the numba one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from xbarsim.backends import get_backend
from xbarsim.circuit import CellModel, Crossbar, Network
from xbarsim.native import kernels as kk
from xbarsim.native import linalg_kernels as la
from xbarsim.native.blocktri import CrossbarLU, crossbar_slots
from xbarsim.native.chord import ChordSolver
from xbarsim.native.mna import stamp
from xbarsim.native.newton import NewtonOptions, NewtonSolver
from xbarsim.solution import relative_error

CASES = [
    ("1t1r", (8, 6), {"r_wire": 1.0}),
    ("1t1r", (6, 9), {"r_row": 2.0, "r_col": 0.5, "r_driver": 10.0, "r_sense": 5.0}),
    ("1t1r", (5, 4), {"r_wire": 1.0, "r_ref": 1000.0}),
    ("1t1r", (1, 7), {"r_wire": 1.0}),
    ("1t1r", (7, 1), {"r_wire": 1.0}),
    ("diode", (8, 6), {"r_wire": 1.0}),
    ("diode", (6, 9), {"r_row": 2.0, "r_col": 0.5, "r_driver": 10.0, "r_sense": 5.0}),
    ("diode", (5, 4), {"r_wire": 1.0, "r_ref": 1000.0}),
    ("resistor", (8, 6), {"r_wire": 1.0}),
    ("resistor", (5, 4), {"r_row": 3.0, "r_col": 0.5}),
]


def _jacobian(kind: str, shape: tuple[int, int], open_cells: bool = False, seed: int = 0, **kw):
    rng = np.random.default_rng(seed)
    G = rng.uniform(25e-6, 200e-6, shape)
    if open_cells:
        G[rng.random(shape) < 0.25] = 0.0
        G[0, :] = 0.0  # a whole row open
    xb = Crossbar(G=G, cell=CellModel(kind=kind), **kw)
    nw = NewtonSolver(stamp(xb), NewtonOptions())
    ch = ChordSolver(nw)
    V = rng.choice([0.0, 5.0 if kind == "diode" else 0.2], size=(1, shape[0]))
    xf = nw.mna.fixed_values(V)
    xu = nw.solve(xf[0])[0] if kind != "resistor" else np.zeros(nw.n_u)
    q = nw._evaluate(*nw._terminal_voltages(ch._full(np.atleast_2d(xu), xf)))[0]
    nw._vd_inner = None
    back = np.argsort(nw.p)  # the Jacobian is laid out in Newton's order p; back to unknown order
    return nw, sp.csc_matrix(nw.jacobian(q)[back][:, back])


@pytest.mark.parametrize("open_cells", [False, True])
@pytest.mark.parametrize("kind,shape,kw", CASES)
def test_structured_lu_solves_exactly_like_sparse_lu(kind, shape, kw, open_cells) -> None:
    nw, J = _jacobian(kind, shape, open_cells, **kw)
    lu = CrossbarLU.build(nw.mna.topo, nw.mna.upos, J)
    assert lu is not None
    lu.single = False
    F = np.random.default_rng(1).standard_normal((5, nw.n_u))
    ref = sla.spsolve(J, F.T).T
    assert relative_error(lu.solve(F), ref) <= 1e-11


def test_single_precision_sweeps_stay_within_their_bound() -> None:
    nw, J = _jacobian("1t1r", (32, 32), r_wire=1.0)
    lu = CrossbarLU.build(nw.mna.topo, nw.mna.upos, J)
    assert lu is not None and lu.single  # well conditioned: float32 sweeps chosen
    F = np.random.default_rng(2).standard_normal((3, nw.n_u))
    ref = sla.spsolve(J, F.T).T
    err = relative_error(lu.solve(F), ref)
    assert 1e-9 < err <= 1e-4  # really float32, and within the bound from_plan checks


def test_structure_refuses_an_entry_outside_it() -> None:
    nw, J = _jacobian("1t1r", (4, 4), r_wire=1.0)
    slots = crossbar_slots(nw.mna.topo, nw.mna.upos)
    assert slots is not None
    a, b = slots["r"][0, 1], slots["c"][2, 3]  # a coupling no crossbar element makes
    extra = sp.csc_matrix(([1e-3, 1e-3], ([a, b], [b, a])), shape=J.shape)
    assert CrossbarLU.build(nw.mna.topo, nw.mna.upos, (J + extra).tocsc()) is None


def test_merged_wires_and_networks_fall_back_to_sparse_lu() -> None:
    rng = np.random.default_rng(3)
    # Zero wire resistance merges every row into one node: not the structure.
    nw, _J = _jacobian("diode", (5, 4), r_wire=0.0)
    assert crossbar_slots(nw.mna.topo, nw.mna.upos) is None
    # A two-layer network is not one crossbar: the chord runs on SuperLU and agrees with Newton.
    l1 = Crossbar(G=rng.uniform(1e-5, 1e-4, (6, 4)), cell=CellModel(kind="diode"), r_wire=1.0, r_ref=1e3)
    l2 = Crossbar(G=rng.uniform(1e-5, 1e-4, (4, 3)), cell=CellModel(kind="diode"), r_wire=1.0)
    net = Network((l1, l2))
    V = rng.choice([0.0, 5.0], size=(20, 6))
    be = get_backend("native")
    a = be.solve(net, V)
    chord = be._cache[id(net)].chord
    assert chord is not None and chord.blu is None and chord.lu is not None
    b = get_backend("native", method="newton", reltol=1e-8).solve(net, V)
    assert relative_error(a.currents, b.currents) <= 1e-8


# ------------------------------------------------------------------ kernels vs NumPy twins
def _rng_state(n_u=40, n_f=6, K=37, seed=0):
    rng = np.random.default_rng(seed)
    return rng, rng.uniform(-1, 1, (n_u, K)), rng.uniform(0, 2, (n_f, K))


def _enc(rng, n_dev, n_u, n_f):
    """Random node encodings: mostly unknowns, some fixed (-1 - index)."""
    e = rng.integers(0, n_u, n_dev)
    fixed = rng.random(n_dev) < 0.2
    e[fixed] = -1 - rng.integers(0, n_f, fixed.sum())
    return e.astype(np.int64)


@pytest.mark.skipif(not kk.HAVE_NUMBA, reason="numba not installed")
def test_mos_and_linear_residual_kernels_match_numpy() -> None:
    rng, xu, xf = _rng_state()
    n_u, n_f = xu.shape[0], xf.shape[0]
    n = 25
    # Drains private to each device (as middle nodes are), sources and gates shared.
    ed = rng.permutation(n_u)[:n].astype(np.int64)
    eg, es = _enc(rng, n, n_u, n_f), _enc(rng, n, n_u, n_f)
    par = (rng.uniform(1e-4, 1e-3, n), rng.uniform(0.3, 0.8, n), rng.uniform(0, 0.1, n))
    Y = sp.random(n_u, n_u, density=0.1, random_state=1, format="csr")
    Yf = sp.random(n_u, n_f, density=0.2, random_state=2, format="csr")
    F1 = kk.linear_residual(xu, xf, Y, Yf)
    F2 = kk._linear_residual_numpy(
        xu, xf, Y.indptr, Y.indices, Y.data, Yf.indptr, Yf.indices, Yf.data, np.empty_like(xu)
    )
    assert relative_error(F1, F2) <= 1e-14
    G1, G2 = F1.copy(), F1.copy()
    i1 = kk.mos_residual(xu, xf, (ed, eg, es), par, G1)
    i2 = kk._mos_residual_numpy(xu, xf, ed, eg, es, *par, G2)
    assert relative_error(G1, G2) <= 1e-14 and relative_error(i1, i2) <= 1e-14


@pytest.mark.skipif(not kk.HAVE_NUMBA, reason="numba not installed")
def test_series_diode_kernel_matches_numpy_cold_and_warm() -> None:
    rng, xu, xf = _rng_state(seed=4)
    xu *= 3.0
    n_u, n_f = xu.shape[0], xf.shape[0]
    n = 30
    ea, ek = _enc(rng, n, n_u, n_f), _enc(rng, n, n_u, n_f)
    par = (rng.uniform(1e-5, 1e-3, n), np.full(n, 1e-14), np.full(n, 0.0258), 1e-12)
    for warm in (False, True):
        st1 = np.full((3, n, xu.shape[1]), np.nan)
        if warm:  # the state of a previous call at a nearby point, as the chord leaves it
            kk.series_residual(xu * 0.999, xf, (ea, ek), par, st1, np.zeros_like(xu))
        st2 = st1.copy()
        F1, F2 = np.zeros_like(xu), np.zeros_like(xu)
        i1 = kk.series_residual(xu, xf, (ea, ek), par, st1, F1)
        i2 = kk._series_residual_numpy(xu, xf, ea, ek, *par[:3], par[3], st2, F2)
        # Both solve each junction to ~1e-13 V: the currents agree to that (times G).
        assert np.abs(F1 - F2).max() <= 1e-15 + 1e-12 * np.abs(F2).max()
        assert np.abs(st1[0] - st2[0]).max() <= 1e-12
        assert relative_error(i1, i2) <= 1e-12


@pytest.mark.skipif(not kk.HAVE_NUMBA, reason="numba not installed")
def test_sweep_thomas_and_update_kernels_match_numpy() -> None:
    rng = np.random.default_rng(5)
    M, N, K = 6, 7, 19
    d = rng.uniform(2, 3, (M, N))
    lo, up = rng.uniform(-1, 0, (M, N)), rng.uniform(-1, 0, (M, N))
    f = rng.standard_normal((M, N, K))
    a, b = la.thomas(1 / d, lo, up, f.copy()), la._thomas_numpy(1 / d, lo, up, f.copy())
    assert relative_error(a, b) <= 1e-14
    W = rng.standard_normal((M, N, N))
    el, eu = rng.standard_normal((M - 1, N)), rng.standard_normal((M - 1, N))
    a, b = la.block_sweeps(W, el, eu, f.copy()), la._sweeps_numpy(W, el, eu, f.copy())
    assert relative_error(a, b) <= 1e-12
    c = rng.standard_normal((M, N))
    a, b = la.axpy(np.empty_like(f), f, c, f * 2), la._axpy_numpy(np.empty_like(f), f, c, f * 2)
    assert np.array_equal(a, b)
    g, h = rng.standard_normal((M, N, K)), rng.standard_normal((M, N, K))
    c2 = rng.standard_normal((M, N))
    outs = [tuple(np.empty_like(f) for _ in range(3)) for _ in range(2)]
    la.pendant_in(f, g, h, c, c2, *outs[0])
    la._pendant_in_numpy(f, g, h, c, c2, *outs[1])
    assert all(np.allclose(u, v, rtol=1e-15, atol=0) for u, v in zip(*outs))
    xm1, xm2 = np.empty_like(f), np.empty_like(f)
    la.pendant_out(h, f, g, c, c2, d, xm1)
    la._pendant_out_numpy(h, f, g, c, c2, d, xm2)
    assert relative_error(xm1, xm2) <= 1e-15
    x, dx = rng.standard_normal((50, K)), rng.standard_normal((50, K))
    x1, x2 = x.copy(), x.copy()
    assert np.allclose(kk.step_update(x1, dx), kk._step_update_numpy(x2, dx), rtol=0, atol=0)
    assert np.array_equal(x1, x2)
    # Anderson acceleration: push (difference pair + dot products) and mix, against NumPy.
    m, n_ = 3, 50
    bufs = [np.zeros((m, n_, K)) for _ in range(4)]
    g1, d1 = rng.standard_normal((n_, K)), rng.standard_normal((n_, K))
    g2, d2 = g1.copy(), d1.copy()
    for step, (slot, n_hist, head) in enumerate([(0, 1, 1), (1, 2, 2), (2, 3, 0), (0, 3, 1)]):
        xs, ds = rng.standard_normal((n_, K)), rng.standard_normal((n_, K))
        r1, b1 = la.anderson_push(xs, ds, g1, d1, bufs[0], bufs[1], slot, n_hist, head)
        r2, b2 = la._anderson_push_numpy(xs, ds, g2, d2, bufs[2], bufs[3], slot, n_hist, head)
        assert relative_error(r1, r2) <= 1e-13 and relative_error(b1, b2) <= 1e-13, step
        assert np.array_equal(bufs[0], bufs[2]) and np.array_equal(g1, g2) and np.array_equal(d1, d2)
    gamma = rng.standard_normal((K, m))
    x1, x2 = x.copy(), x.copy()
    la.anderson_mix(x1, bufs[0], gamma)
    la._anderson_mix_numpy(x2, bufs[0], gamma)
    assert relative_error(x1, x2) <= 1e-14
    dx[3, 4] = np.nan  # a non-finite step must show in that vector's step size
    dn, _ = kk.step_update(x1, dx)
    assert np.isnan(dn[4]) and np.isfinite(np.delete(dn, 4)).all()
    assert np.array_equal(kk.col_absmax(x), np.abs(x).max(axis=0))
    idx = np.array([4, 0, 9], dtype=np.int64)
    assert np.array_equal(kk.take_cols(x, idx, np.empty((50, 3))), x[:, idx])
    order = rng.permutation(50)[:30].astype(np.int64)
    out1, out2 = np.zeros((12, 30)), np.zeros((12, 30))
    rows = np.array([11, 2, 5], dtype=np.int64)
    kk.unpack(x, idx, order, out1, rows)
    kk._unpack_numpy(x, idx, order, out2, rows)
    assert np.array_equal(out1, out2)


# ------------------------------------------------------------------ chord on the structured path
@pytest.mark.parametrize(
    "kind,n,v,n_vec",
    [("1t1r", 48, 0.2, 120), ("diode", 24, 5.0, 40)],
)
def test_structured_chord_matches_newton(kind, n, v, n_vec) -> None:
    rng = np.random.default_rng(n)
    xb = Crossbar(G=rng.uniform(25e-6, 200e-6, (n, n - 4)), cell=CellModel(kind=kind), r_wire=1.0)
    V = rng.choice([0.0, v], size=(n_vec, n))
    be = get_backend("native")
    a = be.solve(xb, V)
    chord = be._cache[id(xb)].chord
    assert chord.blu is not None and chord.vectors == n_vec and chord.handed == 0  # none left to Newton
    b = get_backend("native", method="newton", reltol=1e-8).solve(xb, V)
    assert relative_error(a.currents, b.currents) <= 1e-9
    assert relative_error(a.power, b.power) <= 1e-9


def test_numpy_fallback_gives_the_same_answers() -> None:
    code = (
        "import json, numpy as np\n"
        "from xbarsim.backends import get_backend\n"
        "from xbarsim.circuit import CellModel, Crossbar\n"
        "from xbarsim.native import kernels\n"
        "rng = np.random.default_rng(9)\n"
        "out = {'numba': kernels.HAVE_NUMBA}\n"
        "for kind, v in (('1t1r', 0.2), ('diode', 5.0)):\n"
        "    xb = Crossbar(G=rng.uniform(25e-6, 200e-6, (12, 10)), cell=CellModel(kind=kind), r_wire=1.0)\n"
        "    V = rng.choice([0.0, v], size=(20, 12))\n"
        "    out[kind] = get_backend('native').solve(xb, V).currents.tolist()\n"
        "print(json.dumps(out))\n"
    )
    runs = {}
    for flag in ("", "1"):
        env = (
            {**os.environ, "XBARSIM_NO_NUMBA": flag}
            if flag
            else {k: v for k, v in os.environ.items() if k != "XBARSIM_NO_NUMBA"}
        )
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600, check=False
        )
        assert res.returncode == 0, res.stderr
        runs[flag] = json.loads(res.stdout.strip().splitlines()[-1])
    assert runs["1"]["numba"] is False
    for kind in ("1t1r", "diode"):
        assert relative_error(np.array(runs[""][kind]), np.array(runs["1"][kind])) <= 1e-10
