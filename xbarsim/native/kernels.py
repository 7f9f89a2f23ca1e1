"""Compiled inner loops of the chord iteration (numba), each with a NumPy twin.

(The structured solve's and Anderson acceleration's kernels are in
:mod:`xbarsim.native.linalg_kernels`.)

The chord iteration spends its time in passes over every cell of every vector: the linear and
MOS1 parts of the residual and the row-wire sweeps of the structured solve. As NumPy expressions
each pass is a dozen temporaries the size of the whole batch; compiled, it is one pass with the
vectors as the innermost (SIMD) axis. The device equations are the expressions of
:mod:`xbarsim.native.devices` in the same order (no ``fastmath``), and
``tests/test_native_structured.py`` checks every kernel against its NumPy twin. Without numba
(``XBARSIM_NO_NUMBA=1``, or a platform without a wheel) the twins run instead: same results,
slower. All arrays are laid out (nodes, vectors).
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

from .devices import mos1_current, series_diode_eval

try:  # pragma: no cover - whichever branch the machine has
    if os.environ.get("XBARSIM_NO_NUMBA"):
        raise ImportError("disabled by XBARSIM_NO_NUMBA")
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    numba = None  # type: ignore[assignment]
    HAVE_NUMBA = False

_E = float(np.e)

#: Vectors per parallel task of the column-wise kernels (enough to amortize the per-device setup).
_VEC_CHUNK = 128


def _node(xu: np.ndarray, xf: np.ndarray, enc: np.ndarray) -> np.ndarray:
    """Voltages (len(enc), K) of nodes encoded as unknown index (>= 0) or ``-1 - fixed index``."""
    out = np.empty((enc.size, xu.shape[1]))
    u = enc >= 0
    out[u] = xu[enc[u]]
    out[~u] = xf[-1 - enc[~u]]
    return out


def _mos_residual_numpy(xu, xf, ed, eg, es, beta, vto, lam, F):
    vs = _node(xu, xf, es)
    col = (slice(None), None)
    cur = mos1_current(_node(xu, xf, eg) - vs, _node(xu, xf, ed) - vs, beta[col], vto[col], lam[col])
    for enc, sign in ((ed, 1.0), (es, -1.0)):
        ok = enc >= 0
        np.add.at(F, enc[ok], sign * cur[ok])
    return np.abs(cur).max(axis=0) if cur.shape[0] else np.zeros(xu.shape[1])


def _linear_residual_numpy(xu, xf, indptr, indices, data, f_indptr, f_indices, f_data, F):
    Y = sp.csr_matrix((data, indices, indptr), shape=(xu.shape[0], xu.shape[0]))
    Yf = sp.csr_matrix((f_data, f_indices, f_indptr), shape=(xu.shape[0], xf.shape[0]))
    F[...] = np.asarray(Y @ xu) + np.asarray(Yf @ xf)
    return F


def _step_update_numpy(x, d):
    x -= d
    return np.abs(d).max(axis=0), np.abs(x).max(axis=0)


def _col_absmax_numpy(F):
    return np.abs(F).max(axis=0)


def _unpack_numpy(xa, cols, order, xu, rows):
    xu[rows] = xa[order][:, cols].T


def _take_cols_numpy(xa, idx, out):
    np.take(xa, idx, axis=1, out=out)
    return out


def _series_residual_numpy(xu, xf, ea, ek, G, is_, vte, gmin, st, F):
    vd = st[0]
    V = _node(xu, xf, ea) - _node(xu, xf, ek)
    K = V.shape[1]
    col = (slice(None), None)
    warm = vd.ravel() if np.isfinite(vd).all() else None
    cur, _, v = series_diode_eval(
        V.ravel(),
        np.broadcast_to(G[col], V.shape).ravel(),
        np.broadcast_to(is_[col], V.shape).ravel(),
        np.broadcast_to(vte[col], V.shape).ravel(),
        gmin,
        warm,
    )
    cur = cur.reshape(V.shape)
    vd[...] = v.reshape(V.shape)
    for enc, sign in ((ea, 1.0), (ek, -1.0)):
        ok = enc >= 0
        np.add.at(F, enc[ok], sign * cur[ok])
    return np.abs(cur).max(axis=0) if cur.shape[0] else np.zeros(K)


if HAVE_NUMBA:

    @numba.njit(cache=True, inline="always")
    def _span(c, K):  # pragma: no cover
        """Vectors [k0, k1) of parallel task c (each task owns its vectors: no two write one entry)."""
        k0 = c * _VEC_CHUNK
        return k0, min(K, k0 + _VEC_CHUNK)

    @numba.njit(cache=True, inline="always")
    def _row(xu, xf, e):  # pragma: no cover
        """Voltages (K,) of a node encoded as unknown index (>= 0) or ``-1 - fixed index``."""
        return xu[e] if e >= 0 else xf[-1 - e]

    @numba.njit(cache=True, parallel=True)
    def _unpack_numba(xa, cols, order, xu, rows):  # pragma: no cover
        n_c = cols.size
        n_u = order.size
        n_b = (n_c + 7) // 8
        # Eight vectors at a time: one cache line of xa per node, eight output rows streamed.
        for b in numba.prange(n_b):
            c0 = b * 8
            c1 = min(n_c, c0 + 8)
            for u in range(n_u):
                src = order[u]
                for c in range(c0, c1):
                    xu[rows[c], u] = xa[src, cols[c]]

    @numba.njit(cache=True, parallel=True)
    def _take_cols_numba(xa, idx, out):  # pragma: no cover
        n = xa.shape[0]
        m = idx.size
        for r in numba.prange(n):
            for j in range(m):
                out[r, j] = xa[r, idx[j]]
        return out

    @numba.njit(cache=True, parallel=True)
    def _step_update_numba(x, d, nth):  # pragma: no cover
        n, K = x.shape
        part = np.zeros((nth, 3, K))
        rows = (n + nth - 1) // nth
        for t in numba.prange(nth):
            pd, px, pz = part[t, 0], part[t, 1], part[t, 2]
            for r in range(t * rows, min(n, (t + 1) * rows)):
                for k in range(K):
                    dk = d[r, k]
                    v = x[r, k] - dk
                    x[r, k] = v
                    pd[k] = max(pd[k], abs(dk))
                    px[k] = max(px[k], abs(v))
                    pz[k] += dk * 0.0  # NaN if any step entry is not finite (max() would skip it)
        dn = np.zeros(K)
        sc = np.zeros(K)
        for t in range(nth):
            for k in range(K):
                dn[k] = max(dn[k], part[t, 0, k]) + part[t, 2, k]
                sc[k] = max(sc[k], part[t, 1, k])
        return dn, sc

    @numba.njit(cache=True, parallel=True)
    def _col_absmax_numba(F, nth):  # pragma: no cover
        n, K = F.shape
        part = np.zeros((nth, K))
        rows = (n + nth - 1) // nth
        for t in numba.prange(nth):
            p = part[t]
            for r in range(t * rows, min(n, (t + 1) * rows)):
                for k in range(K):
                    p[k] = max(p[k], abs(F[r, k]))
        out = np.zeros(K)
        for t in range(nth):
            for k in range(K):
                out[k] = max(out[k], part[t, k])
        return out

    @numba.njit(cache=True, parallel=True)
    def _series_residual_numba(xu, xf, ea, ek, G, is_, vte, gmin, st, F):  # pragma: no cover
        K = xu.shape[1]
        n = ea.size
        imax = np.zeros(K)
        for c in numba.prange((K + _VEC_CHUNK - 1) // _VEC_CHUNK):
            k0, k1 = _span(c, K)
            for m in range(n):
                e_a, e_k = ea[m], ek[m]
                xa = _row(xu, xf, e_a)
                xk = _row(xu, xf, e_k)
                g, i_s, vt = G[m], is_[m], vte[m]
                for k in range(k0, k1):
                    # series_diode_eval for one cell, step by step.
                    V = xa[k] - xk[k]
                    lo = min(V, 0.0)
                    hi = max(V, 0.0)
                    if V > 0:  # the diode cannot carry more than G V: keeps exp() in range
                        hi = min(hi, vt * np.log1p(g * V / i_s))
                    v = st[0, m, k]
                    if np.isfinite(v):
                        # Warm start, moved along the cell's own linearization: the junction takes
                        # the share G / (G + gd) of the change in the cell voltage.
                        v += (V - st[1, m, k]) * st[2, m, k]
                        v = min(max(v, lo), hi)
                    else:
                        v = hi
                    share = 0.0
                    for _ in range(200):
                        if v >= -3.0 * vt:
                            evd = np.exp(v / vt)
                            cd = i_s * (evd - 1.0)
                            gd = i_s * evd / vt
                        else:
                            a3 = (3.0 * vt / (v * _E)) ** 3
                            cd = -i_s * (1.0 + a3)
                            gd = i_s * 3.0 * a3 / v
                        cd += gmin * v
                        gd += gmin
                        f = cd - g * (V - v)
                        share = g / (gd + g)
                        if f > 0:
                            hi = v
                        if f < 0:
                            lo = v
                        new = v - f / (gd + g)
                        if not (new >= lo and new <= hi):
                            new = 0.5 * (lo + hi)
                        # Quadratic convergence: after a Newton step below 1e-8 V the junction
                        # is within ~1e-15 V (far inside the 1e-13 V of series_diode_eval).
                        busy = abs(new - v) > 1e-13 and hi - lo > 1e-13
                        newton = abs(new - v) < 1e-8 and new != 0.5 * (lo + hi)
                        v = new
                        if not busy or newton:
                            break
                    st[0, m, k] = v
                    st[1, m, k] = V
                    st[2, m, k] = share
                    cur = g * (V - v)
                    if e_a >= 0:
                        F[e_a, k] += cur
                    if e_k >= 0:
                        F[e_k, k] -= cur
                    imax[k] = max(imax[k], abs(cur))
        return imax

    @numba.njit(cache=True, parallel=True)
    def _mos_residual_numba(xu, xf, ed, eg, es, beta, vto, lam, F):  # pragma: no cover
        K = xu.shape[1]
        n = ed.size
        imax = np.zeros(K)
        # Each task owns a range of vectors, so no two tasks add into the same entry of F.
        for c in numba.prange((K + _VEC_CHUNK - 1) // _VEC_CHUNK):
            k0, k1 = _span(c, K)
            for m in range(n):
                e_d, e_g, e_s = ed[m], eg[m], es[m]
                xs = _row(xu, xf, e_s)
                xg = _row(xu, xf, e_g)
                xd = _row(xu, xf, e_d)
                b, v0, lm = beta[m], vto[m], lam[m]
                for k in range(k0, k1):
                    vs = xs[k]
                    vgs = xg[k] - vs
                    vds = xd[k] - vs
                    # mos1_current, expression by expression.
                    fwd = vds >= 0.0
                    u = abs(vds)
                    vgst = (vgs if fwd else vgs - vds) - v0
                    betap = b * (1.0 + lm * u)
                    sat = 0.5 * betap * vgst * vgst
                    lin = betap * u * (vgst - 0.5 * u)
                    cd = sat if vgst <= u else lin
                    cd = 0.0 if vgst <= 0.0 else cd
                    cur = cd if fwd else -cd
                    if e_d >= 0:
                        F[e_d, k] += cur
                    if e_s >= 0:
                        F[e_s, k] -= cur
                    imax[k] = max(imax[k], abs(cur))
        return imax

    @numba.njit(cache=True, parallel=True)
    def _linear_residual_numba(
        xu, xf, indptr, indices, data, f_indptr, f_indices, f_data, F
    ):  # pragma: no cover
        n, K = xu.shape
        for r in numba.prange(n):
            for k in range(K):
                F[r, k] = 0.0
            for p in range(f_indptr[r], f_indptr[r + 1]):
                c = f_data[p]
                q = f_indices[p]
                for k in range(K):
                    F[r, k] += c * xf[q, k]
            for p in range(indptr[r], indptr[r + 1]):
                c = data[p]
                q = indices[p]
                for k in range(K):
                    F[r, k] += c * xu[q, k]
        return F


def mos_residual(
    xu: np.ndarray,
    xf: np.ndarray,
    enc: tuple[np.ndarray, np.ndarray, np.ndarray],
    params: tuple[np.ndarray, np.ndarray, np.ndarray],
    F: np.ndarray,
) -> np.ndarray:
    """Add every transistor's channel current to the KCL residual F (n_u, K); each vector's largest |I|.

    ``xu`` (n_u, K) / ``xf`` (n_fixed, K) are the unknown / fixed node voltages, ``enc`` the
    drain, gate and source of each device as an unknown index (>= 0) or ``-1 - fixed index``,
    ``params`` its beta, VTO and LAMBDA. The drain current leaves the drain and enters the source.
    """
    fn = _mos_residual_numba if HAVE_NUMBA else _mos_residual_numpy
    return fn(xu, xf, *enc, *params, F)


def series_residual(
    xu: np.ndarray,
    xf: np.ndarray,
    enc: tuple[np.ndarray, np.ndarray],
    params: tuple[np.ndarray, np.ndarray, np.ndarray, float],
    state: np.ndarray,
    F: np.ndarray,
) -> np.ndarray:
    """Add every folded diode cell's current (diode + series G, anode to cathode) to F (n_u, K).

    ``enc`` the anode and cathode nodes (see :func:`mos_residual`), ``params`` G, IS, N vt and
    gmin; ``state`` (3, n_cells, K) the junction voltages, cell voltages and junction shares
    ``G / (G + gd)`` of the previous call: the warm start of each per-cell solve (NaN junction:
    cold), overwritten with the new ones. Returns each vector's largest |I|.
    """
    fn = _series_residual_numba if HAVE_NUMBA else _series_residual_numpy
    return fn(xu, xf, *enc, *params[:3], float(params[3]), state, F)


def linear_residual(
    xu: np.ndarray, xf: np.ndarray, Y: sp.csr_matrix, Yf: sp.csr_matrix, out: np.ndarray | None = None
) -> np.ndarray:
    """``Y @ xu + Yf @ xf`` for CSR matrices Y (n, n), Yf (n, n_fixed) and C-contiguous xu (n, K), xf."""
    fn = _linear_residual_numba if HAVE_NUMBA else _linear_residual_numpy
    F = np.empty(xu.shape) if out is None else out
    return fn(xu, xf, Y.indptr, Y.indices, Y.data, Yf.indptr, Yf.indices, Yf.data, F)


def step_update(x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x -= d`` for (n, K) arrays; per vector ``max |d|`` and ``max |x|`` after the step."""
    if HAVE_NUMBA:
        return _step_update_numba(x, d, numba.get_num_threads())
    return _step_update_numpy(x, d)


def col_absmax(F: np.ndarray) -> np.ndarray:
    """Per vector (column) ``max |F|`` of an (n, K) array."""
    if HAVE_NUMBA:
        return _col_absmax_numba(F, numba.get_num_threads())
    return _col_absmax_numpy(F)


class Workspace:
    """Reusable scratch arrays: a fresh 100 MB array costs its page faults on every first touch.

    ``get(name, shape)`` returns a C-contiguous view of a flat buffer kept under ``name``, grown
    when a larger shape is asked for; contents are undefined.
    """

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
        size = int(np.prod(shape))
        buf = self._bufs.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = np.empty(max(size, 1), dtype=dtype)
            self._bufs[name] = buf
        return buf[:size].reshape(shape)

    def clear(self) -> None:
        self._bufs.clear()


def unpack(xa: np.ndarray, cols: np.ndarray, order: np.ndarray, xu: np.ndarray, rows: np.ndarray) -> None:
    """``xu[rows[c], u] = xa[order[u], cols[c]]``: vectors from the (nodes, vectors) layout to rows."""
    fn = _unpack_numba if HAVE_NUMBA else _unpack_numpy
    fn(xa, cols, order, xu, rows)


def take_cols(xa: np.ndarray, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[:, j] = xa[:, idx[j]]`` (``out`` must not overlap ``xa``)."""
    fn = _take_cols_numba if HAVE_NUMBA else _take_cols_numpy
    return fn(xa, idx, out)


def warm_up() -> float:
    """Compile (or load from numba's on-disk cache) every kernel the native solver uses; seconds taken.

    A fresh install compiles once, ~15-30 s on two cores; ``bootstrap.sh`` runs this right after
    installing so that the first nonlinear solve a user runs does not pay it.
    """
    import time

    from ..backends import get_backend
    from ..circuit import CellModel, Crossbar
    from .linalg_kernels import block_sweeps

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    for cell, v in ((CellModel(kind="1t1r"), 0.2), (CellModel(kind="diode"), 5.0)):
        xb = Crossbar(G=rng.uniform(25e-6, 200e-6, (24, 20)), cell=cell, r_wire=1.0)
        get_backend("native").solve(xb, rng.choice([0.0, v], size=(20, 24)))
    if HAVE_NUMBA:  # both precisions of the block sweeps
        for dt in (np.float32, np.float64):
            z = np.ones((3, 4, 5), dtype=dt)
            block_sweeps(
                np.ones((3, 4, 4), dtype=dt), np.ones((2, 4), dtype=dt), np.ones((2, 4), dtype=dt), z
            )
    return time.perf_counter() - t0
