"""Compiled linear-algebra kernels of the chord iteration (numba), each with a NumPy twin.

The row-wire Thomas sweeps, the block-tridiagonal sweeps and the pendant-node eliminations of
the structured crossbar solve (:mod:`xbarsim.native.blocktri`), and Anderson acceleration of
the chord iteration. Same conventions as :mod:`xbarsim.native.kernels`: vectors are the last
axis, each kernel has a NumPy twin that the tests compare it with, and ``XBARSIM_NO_NUMBA=1``
runs the twins.
"""

from __future__ import annotations

import numpy as np

from .kernels import _VEC_CHUNK, HAVE_NUMBA, numba

if HAVE_NUMBA:
    from .kernels import _span


def _thomas_numpy(dinv, lo, up, f):
    N = f.shape[1]
    for j in range(1, N):
        f[:, j] -= (lo[:, j] * dinv[:, j - 1])[:, None] * f[:, j - 1]
    f[:, N - 1] *= dinv[:, N - 1][:, None]
    for j in range(N - 2, -1, -1):
        f[:, j] = (f[:, j] - up[:, j][:, None] * f[:, j + 1]) * dinv[:, j][:, None]
    return f


def _axpy_numpy(out, a, coef, b):
    np.subtract(a, coef[:, :, None] * b, out=out)
    return out


def _pendant_in_numpy(fr, fc, fm, m_r, m_c, xr, xc, t):
    np.subtract(fr, m_r[:, :, None] * fm, out=xr)
    np.subtract(fc, m_c[:, :, None] * fm, out=xc)
    t[...] = xr


def _pendant_out_numpy(fm, xr, xc, mr, mc, mm_inv, xm):
    xm[...] = (fm - mr[:, :, None] * xr - mc[:, :, None] * xc) * mm_inv[:, :, None]


def _anderson_push_numpy(x, d, g_prev, d_prev, dG, dF, slot, n_hist, head):
    dG[slot] = x - g_prev
    dF[slot] = d_prev - d  # f = -d
    m = dG.shape[0]
    K = x.shape[1]
    row = np.zeros((K, m))
    used = [(head - 1 - j) % m for j in range(n_hist)]
    for j in used:
        row[:, j] = np.einsum("nk,nk->k", dF[slot], dF[j])
    b = np.zeros((K, m))
    for j in used:
        b[:, j] = -np.einsum("nk,nk->k", dF[j], d)
    g_prev[...] = x
    d_prev[...] = d
    return row, b


def _anderson_mix_numpy(x, dG, gamma):
    for j in range(dG.shape[0]):
        x -= gamma[:, j] * dG[j]


def _sweeps_numpy(W, el, eu, z):
    M = z.shape[0]
    z[0] = W[0] @ z[0]
    for i in range(1, M):
        z[i] = W[i] @ (z[i] - el[i - 1][:, None] * z[i - 1])
    for i in range(M - 2, -1, -1):
        z[i] -= W[i] @ (eu[i][:, None] * z[i + 1])
    return z


if HAVE_NUMBA:

    @numba.njit(cache=True)
    def _sweeps_one(W, el, eu, z):  # pragma: no cover
        M, N, K = z.shape
        tmp = np.empty((N, K), dtype=z.dtype)
        res = np.empty((N, K), dtype=z.dtype)
        np.dot(W[0], z[0], res)
        z[0] = res
        for i in range(1, M):
            for j in range(N):
                c = el[i - 1, j]
                for k in range(K):
                    tmp[j, k] = z[i, j, k] - c * z[i - 1, j, k]
            np.dot(W[i], tmp, res)
            z[i] = res
        for i in range(M - 2, -1, -1):
            for j in range(N):
                c = eu[i, j]
                for k in range(K):
                    tmp[j, k] = c * z[i + 1, j, k]
            np.dot(W[i], tmp, res)
            for j in range(N):
                for k in range(K):
                    z[i, j, k] -= res[j, k]
        return z

    @numba.njit(cache=True, parallel=True)
    def _sweeps_numba(W, el, eu, z, parts):  # pragma: no cover
        _M, _N, K = z.shape
        step = (K + parts - 1) // parts
        # The vectors are independent: each thread sweeps its own columns (a contiguous copy).
        for p in numba.prange(parts):
            k0 = p * step
            k1 = min(K, k0 + step)
            if k1 > k0:
                zc = np.ascontiguousarray(z[:, :, k0:k1])
                _sweeps_one(W, el, eu, zc)
                z[:, :, k0:k1] = zc
        return z

    @numba.njit(cache=True, parallel=True)
    def _pendant_in_numba(fr, fc, fm, m_r, m_c, xr, xc, t):  # pragma: no cover
        M, N, K = fr.shape
        for i in numba.prange(M):
            for j in range(N):
                a, b = m_r[i, j], m_c[i, j]
                for k in range(K):
                    f = fm[i, j, k]
                    v = fr[i, j, k] - a * f
                    xr[i, j, k] = v
                    t[i, j, k] = v
                    xc[i, j, k] = fc[i, j, k] - b * f

    @numba.njit(cache=True, parallel=True)
    def _pendant_out_numba(fm, xr, xc, mr, mc, mm_inv, xm):  # pragma: no cover
        M, N, K = fm.shape
        for i in numba.prange(M):
            for j in range(N):
                a, b, c = mr[i, j], mc[i, j], mm_inv[i, j]
                for k in range(K):
                    xm[i, j, k] = (fm[i, j, k] - a * xr[i, j, k] - b * xc[i, j, k]) * c

    @numba.njit(cache=True, parallel=True)
    def _axpy_numba(out, a, coef, b):  # pragma: no cover
        M, N, K = a.shape
        for i in numba.prange(M):
            for j in range(N):
                c = coef[i, j]
                for k in range(K):
                    out[i, j, k] = a[i, j, k] - c * b[i, j, k]
        return out

    @numba.njit(cache=True, parallel=True)
    def _anderson_push_numba(x, d, g_prev, d_prev, dG, dF, slot, n_hist, head):  # pragma: no cover
        n, K = x.shape
        m = dG.shape[0]
        used = np.array([(head - 1 - j) % m for j in range(n_hist)], dtype=np.int64)
        row = np.zeros((K, m))
        b = np.zeros((K, m))
        for c in numba.prange((K + _VEC_CHUNK - 1) // _VEC_CHUNK):
            k0, k1 = _span(c, K)
            for r in range(n):
                for k in range(k0, k1):
                    xv, dv = x[r, k], d[r, k]
                    g = xv - g_prev[r, k]
                    f = d_prev[r, k] - dv
                    dG[slot, r, k] = g
                    dF[slot, r, k] = f
                    g_prev[r, k] = xv
                    d_prev[r, k] = dv
                    for t in range(used.size):
                        j = used[t]
                        fj = dF[j, r, k]
                        row[k, j] += f * fj
                        b[k, j] -= fj * dv
        return row, b

    @numba.njit(cache=True, parallel=True)
    def _anderson_mix_numba(x, dG, gamma):  # pragma: no cover
        n, K = x.shape
        m = dG.shape[0]
        for c in numba.prange((K + _VEC_CHUNK - 1) // _VEC_CHUNK):
            k0, k1 = _span(c, K)
            for r in range(n):
                for j in range(m):
                    for k in range(k0, k1):
                        x[r, k] -= gamma[k, j] * dG[j, r, k]

    @numba.njit(cache=True, parallel=True)
    def _thomas_numba(dinv, lo, up, f):  # pragma: no cover
        M, N, K = f.shape
        for i in numba.prange(M):
            for j in range(1, N):
                c = lo[i, j] * dinv[i, j - 1]
                for k in range(K):
                    f[i, j, k] -= c * f[i, j - 1, k]
            c = dinv[i, N - 1]
            for k in range(K):
                f[i, N - 1, k] *= c
            for j in range(N - 2, -1, -1):
                u = up[i, j]
                c = dinv[i, j]
                for k in range(K):
                    f[i, j, k] = (f[i, j, k] - u * f[i, j + 1, k]) * c
        return f


def thomas(dinv: np.ndarray, lo: np.ndarray, up: np.ndarray, f: np.ndarray) -> np.ndarray:
    """In-place solve of M tridiagonal systems along axis 1 of f (M, N, K).

    Row ``i``'s system is factored: ``dinv[i]`` the inverse pivots, ``lo[i, j]`` the coupling of
    unknown j to j - 1 and ``up[i, j]`` to j + 1.
    """
    fn = _thomas_numba if HAVE_NUMBA else _thomas_numpy
    return fn(dinv, lo, up, f)


def axpy(out: np.ndarray, a: np.ndarray, coef: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``out = a - coef[:, :, None] * b`` for (M, N, K) arrays (``out`` may be ``a``)."""
    fn = _axpy_numba if HAVE_NUMBA else _axpy_numpy
    return fn(out, a, coef, b)


def pendant_in(fr, fc, fm, m_r, m_c, xr, xc, t) -> None:
    """Eliminate pendant middle nodes from a right-hand side.

    ``xr = t = fr - m_r fm`` and ``xc = fc - m_c fm``

    (All arrays (M, N, K); the coefficients (M, N).)
    """
    fn = _pendant_in_numba if HAVE_NUMBA else _pendant_in_numpy
    fn(fr, fc, fm, m_r, m_c, xr, xc, t)


def pendant_out(fm, xr, xc, mr, mc, mm_inv, xm) -> None:
    """Back-substitute pendant middle nodes: ``xm = (fm - mr xr - mc xc) mm_inv``."""
    fn = _pendant_out_numba if HAVE_NUMBA else _pendant_out_numpy
    fn(fm, xr, xc, mr, mc, mm_inv, xm)


def anderson_push(x, d, g_prev, d_prev, dG, dF, slot: int, n_hist: int, head: int):
    """Store the new Anderson difference pair at ``slot`` and move ``g_prev``/``d_prev`` on.

    ``dG[slot] = x - g_prev``, ``dF[slot] = d_prev - d``; returns per vector the dot products of
    the new ``dF`` with every stored slot (K, m) and ``-dF_j . d`` (K, m) for the used slots
    (the newest ``n_hist`` before ``head``; other columns 0).
    """
    fn = _anderson_push_numba if HAVE_NUMBA else _anderson_push_numpy
    return fn(x, d, g_prev, d_prev, dG, dF, slot, n_hist, head)


def anderson_mix(x: np.ndarray, dG: np.ndarray, gamma: np.ndarray) -> None:
    """``x -= sum_j gamma[:, j] dG[j]`` per vector (column)."""
    fn = _anderson_mix_numba if HAVE_NUMBA else _anderson_mix_numpy
    fn(x, dG, gamma)


def block_sweeps(W: np.ndarray, el: np.ndarray, eu: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Block-tridiagonal substitution in place: z (M, N, K) right-hand sides -> solution.

    ``W[i]`` is the inverse of pivot block i, ``el[i]``/``eu[i]`` the diagonal couplings of
    block i + 1 to i and of i to i + 1: ``z_i = W_i (g_i - el_{i-1} z_{i-1})`` forward, then
    ``x_i = z_i - W_i (eu_i x_{i+1})`` backward.
    """
    if HAVE_NUMBA:
        parts = max(1, min(numba.get_num_threads(), z.shape[2] // 8))
        return _sweeps_numba(W, el, eu, z, parts)
    return _sweeps_numpy(W, el, eu, z)
