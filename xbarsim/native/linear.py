"""Linear circuits as one dense transfer matrix: a batch of inputs costs one matrix product.

Only a few nodes matter to the outside: the *given* nodes (inputs, gate lines, virtual-ground
sense nodes: their voltages are known) and the *watched* nodes (sense nodes of r_ref layers and
nodes asked for with ``nodes=``). Together they are the boundary ``R``. Eliminating every other
node leaves the Schur complement ``S = Y_RR - Y_Ru Yuu^-1 Y_uR`` (a small dense matrix with
``I_R = S x_R``). A sparse LU whose ordering puts ``R`` last computes exactly that as its trailing
block, so the whole setup is one factorization and no solves: ``S = L_RR U_RR``.

The ordering: SuperLU's minimum degree on ``Y + clique(R)`` (the clique makes the boundary
nodes the last ones minimum degree wants to eliminate), then the boundary is moved to the very end
and the matrix is factored with that ordering. Measured in ``bench/solver.py`` and the README:
this beats M0 forward/back solves (SuperLU's multi-RHS solve is slow) by 3x at 128 x 128.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .mna import Mna
from .ordering import lookup, pattern_key, store

log = logging.getLogger(__name__)

#: Memory budget of one block of dense solutions in the fallback path (bytes).
BLOCK_BYTES = 128 * 2**20


@dataclass(frozen=True, eq=False)
class Transfer:
    """Dense affine map ``V @ K + k0`` from input vectors to every reported quantity.

    ``cols`` names column ranges of ``K``: ``"amm"`` (currents into the virtual-ground sense
    nodes), ``"src"`` (currents the input sources inject), ``"sense{L}"`` (sense voltages of the
    r_ref layer L) and ``"nodes"`` (requested node voltages).
    """

    K: np.ndarray
    k0: np.ndarray
    cols: dict[str, slice]
    setup_seconds: float
    method: str

    def apply(self, V: np.ndarray) -> np.ndarray:
        out = V @ self.K
        if np.any(self.k0):
            out += self.k0
        return out


def _lu(A: sp.spmatrix, permc_spec: str):
    # Nodal matrices are symmetric positive definite: keep diagonal pivots, symmetric ordering.
    return splu(
        sp.csc_matrix(A), permc_spec=permc_spec, diag_pivot_thresh=0.0, options={"SymmetricMode": True}
    )


def schur_complement(
    Y: sp.spmatrix, inner: np.ndarray, boundary: np.ndarray, ordering: str = "MMD_AT_PLUS_A"
) -> np.ndarray:
    """Dense ``S = Y_bb - Y_bi Y_ii^-1 Y_ib`` via one LU with the boundary ordered last."""
    ni, nb = inner.size, boundary.size
    keep = np.concatenate([inner, boundary])
    A = sp.csr_matrix(Y)[keep][:, keep].tocoo()
    # A shunt on the boundary diagonal keeps the trailing block nonsingular even when the
    # boundary carries the only path to ground; it is subtracted again from S below.
    diag_b = np.abs(A.diagonal()[ni:])
    shunt = float(diag_b.mean()) if nb and diag_b.mean() > 0 else 1.0
    if ni == 0:
        return sp.csr_matrix(Y)[boundary][:, boundary].toarray()
    bi, bj = np.meshgrid(np.arange(ni, ni + nb), np.arange(ni, ni + nb), indexing="ij")
    rows = np.concatenate([A.row, bi.ravel()])
    cols = np.concatenate([A.col, bj.ravel()])
    vals = np.concatenate([A.data, np.where(bi == bj, shunt, 0.0).ravel()])
    Acl = sp.csc_matrix((vals, (rows, cols)), shape=A.shape)
    lu0, perm_r, new_of_old = _factor_cached(Acl, ordering)
    pos = new_of_old[ni:]
    p0 = int(pos.min())
    n = ni + nb
    if n - p0 <= max(4 * nb, 4000) and np.array_equal(perm_r, new_of_old):
        # Minimum degree put the boundary (almost) last: the trailing block from its first member
        # on is the Schur complement onto the boundary plus a few inner nodes; eliminate those densely.
        # One factor copy at a time (``lu0.L`` builds a new matrix), and the SuperLU object is
        # freed before the dense work: at 1024x1024 these copies set the peak memory.
        Lt = _trailing(lu0.L, p0)
        Ut = _trailing(lu0.U, p0)
        del lu0
        T = Lt @ Ut
        del Lt, Ut
        is_b = np.zeros(n - p0, dtype=bool)
        is_b[pos - p0] = True
        order_b = pos - p0  # trailing-block index of boundary node k
        inner_t = np.flatnonzero(~is_b)
        Sbb = T[np.ix_(order_b, order_b)]
        if inner_t.size:
            Sbi = T[np.ix_(order_b, inner_t)]
            Sib = T[np.ix_(inner_t, order_b)]
            Sbb = Sbb - Sbi @ np.linalg.solve(T[np.ix_(inner_t, inner_t)], Sib)
        Sbb[np.diag_indices(nb)] -= shunt
        return Sbb
    # Otherwise move the boundary to the very end of that ordering and factor again.
    order = np.argsort(new_of_old)
    del lu0
    order = np.concatenate([order[order < ni], np.arange(ni, ni + nb)])
    P = Acl[order][:, order]
    tail = np.arange(ni, ni + nb)
    try:
        lu = _lu(P, "NATURAL")
        moved = not (np.array_equal(lu.perm_c[tail], tail) and np.array_equal(lu.perm_r[tail], tail))
    except RuntimeError:  # exactly singular pivot after cancellation (extreme conductance ratios)
        moved = True
    if moved:
        log.info("native: boundary block not kept last by SuperLU; Schur complement by solves")
        return _schur_by_solves(sp.csr_matrix(Y), inner, boundary)
    S = lu.L[ni:, ni:].toarray() @ lu.U[ni:, ni:].toarray()
    S[np.diag_indices(nb)] -= shunt
    return S


def _factor_cached(A: sp.csc_matrix, ordering: str) -> tuple[Any, np.ndarray, np.ndarray]:
    """SuperLU of A, perm_r, perm_c, with the ordering of A's pattern taken from the cache if there.

    A new pattern is ordered by SuperLU (``ordering``) and its ``perm_c`` stored; a known one is
    permuted first and factored with ``NATURAL``, skipping minimum degree (the symbolic half of a
    128x128 setup). Permutations are returned in A's own indexing either way.
    """
    key = pattern_key(A, "schur:" + ordering)
    order = lookup(key)
    if order is None:
        lu = _lu(A, ordering)
        store(key, lu.perm_c)
        return lu, np.asarray(lu.perm_r), np.asarray(lu.perm_c)
    p = np.argsort(order)  # p[new] = old
    lu = _lu(sp.csc_matrix(A[p][:, p]), "NATURAL")
    return lu, np.asarray(lu.perm_r)[order], np.asarray(lu.perm_c)[order]


def _trailing(X: sp.spmatrix, p0: int) -> np.ndarray:
    """Dense ``X[p0:, p0:]`` of a CSC triangular factor, read straight from its index arrays."""
    X = sp.csc_matrix(X)
    n = X.shape[0]
    start = X.indptr[p0]
    rows = X.indices[start:]
    cols = np.repeat(np.arange(p0, n), np.diff(X.indptr[p0:]))
    keep = rows >= p0
    out = np.zeros((n - p0, n - p0))
    out[rows[keep] - p0, cols[keep] - p0] = X.data[start:][keep]
    return out


def _schur_by_solves(Y: sp.csr_matrix, inner: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Fallback: ``S = Y_bb - Y_bi (Y_ii^-1 Y_ib)`` with partial pivoting, in column blocks."""
    Yi = Y[inner]
    lu = splu(sp.csc_matrix(Yi[:, inner]), permc_spec="COLAMD")
    Yib = Yi[:, boundary].tocsc()
    Yb = Y[boundary]
    S = Yb[:, boundary].toarray()
    Ybi = Yb[:, inner].tocsr()
    block = max(1, min(boundary.size, BLOCK_BYTES // max(1, 8 * inner.size)))
    for b0 in range(0, boundary.size, block):
        X = lu.solve(Yib[:, b0 : b0 + block].toarray())
        S[:, b0 : b0 + block] -= Ybi @ X
    return S


def transfer(mna: Mna, node_ids: np.ndarray, *, ordering: str = "MMD_AT_PLUS_A") -> Transfer:
    """Build the :class:`Transfer` of a linear stamped circuit (``mna.is_linear``)."""
    t0 = time.perf_counter()
    topo = mna.topo
    node_ids = np.asarray(node_ids, dtype=np.int64)
    m0 = topo.input_nodes.size
    amm = topo.sense_nodes[topo.ammeter_layer] if topo.ammeter_layer is not None else np.zeros(0, np.int64)
    sense_layers = [L for L in range(len(topo.sense_nodes)) if L != topo.ammeter_layer]
    watched = np.concatenate([topo.sense_nodes[L] for L in sense_layers] + [node_ids]).astype(np.int64)

    # Given boundary: every fixed node except ground (inputs, gates, 0 V sense nodes).
    given = mna.fixed[1:]
    given_val_const = mna.fixed_const[1:]
    given_in = mna.fpos[topo.input_nodes] - 1  # position of each input within `given`
    # Watched nodes that are unknown join the boundary as floating nodes.
    w_unknown = np.unique(watched[mna.upos[watched] >= 0])
    inner = np.setdiff1d(mna.unknown, w_unknown, assume_unique=True)
    boundary = np.concatenate([given, w_unknown])
    S = schur_complement(mna.Y, inner, boundary, ordering)
    ng = given.size
    Sgg, Sgf = S[:ng, :ng], S[:ng, ng:]
    Sfg, Sff = S[ng:, :ng], S[ng:, ng:]
    # x_given = E V + c ; x_float = -Sff^-1 Sfg x_given ; I_given = (Sgg - Sgf Sff^-1 Sfg) x_given
    E = np.zeros((ng, m0))
    E[given_in, np.arange(m0)] = 1.0
    if w_unknown.size:
        F = -np.linalg.solve(Sff, Sfg)  # (nf, ng)
        Ig = Sgg + Sgf @ F
    else:
        F = np.zeros((0, ng))
        Ig = Sgg
    # Node voltage of any node as an affine map of x_given.
    pos_given = {int(n): i for i, n in enumerate(given)}
    pos_float = {int(n): i for i, n in enumerate(w_unknown)}

    def volt_rows(nodes: np.ndarray) -> np.ndarray:
        out = np.zeros((nodes.size, ng))
        for r, n in enumerate(nodes):
            n = int(n)
            if n in pos_float:
                out[r] = F[pos_float[n]]
            elif n in pos_given:
                out[r, pos_given[n]] = 1.0
        return out

    amm_rows = np.array([pos_given[int(n)] for n in amm], dtype=np.int64)
    src_rows = given_in
    A_map = np.concatenate([-Ig[amm_rows], Ig[src_rows], volt_rows(watched)], axis=0)  # (n_out, ng)
    K = (A_map @ E).T
    k0 = A_map @ given_val_const
    cols = {"amm": slice(0, amm.size), "src": slice(amm.size, amm.size + m0)}
    off = amm.size + m0
    for L in sense_layers:
        n_l = topo.sense_nodes[L].size
        cols[f"sense{L}"] = slice(off, off + n_l)
        off += n_l
    cols["nodes"] = slice(off, off + node_ids.size)
    return Transfer(
        K=np.ascontiguousarray(K), k0=k0, cols=cols, setup_seconds=time.perf_counter() - t0, method="schur"
    )
