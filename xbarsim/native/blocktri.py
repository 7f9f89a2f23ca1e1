"""Exact direct solves with the Jacobian of one crossbar, using its row/column structure.

A single crossbar's unknowns are the row-wire nodes ``r[i, j]``, the column-wire nodes
``c[i, j]``, the middle node of each 1T1R cell ``m[i, j]`` and (with ``r_ref``) the sense nodes
``s[j]``. Row ``i``'s wire touches only its own cells, each middle node only its cell's row and
column node, and the column wires couple crossbar row ``i`` to rows ``i - 1`` and ``i + 1``. So
after eliminating the middle nodes (pendant) and the row wire of each row (a tridiagonal system),
the column nodes of row ``i`` form one dense (N, N) block of a block-tridiagonal matrix whose
off-diagonal blocks are diagonal (the column wire conductances). Block LU stores the inverse of
each pivot block; a solve with K right-hand sides is then two Thomas sweeps per row and 2 M
matrix products (N, N) @ (N, K): dense BLAS-3 work, ~4 M N^2 flops per right-hand side, against
SuperLU's sparse substitution at ~1 GFlop/s.

Nothing here assumes the device equations: every coefficient is read from the sparse Jacobian
itself, and :meth:`CrossbarLU.build` refuses (returns ``None``) unless the matrix has no entry
outside this structure, so the solve is exactly ``J^-1 F`` (to rounding) or not used at all.
Transistor Jacobians away from zero bias are not symmetric; the elimination does not need it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..topology import Topology
from .kernels import Workspace
from .linalg_kernels import axpy, block_sweeps, pendant_in, pendant_out, thomas

#: Largest block (columns of the array) and size (rows x columns^2) the dense blocks are used for;
#: beyond that the sparse LU's O(n log n) fill beats the dense blocks' M N^2 storage and work.
MAX_BLOCK = 256
MAX_WORK = 256**3


def crossbar_slots(topo: Topology, upos: np.ndarray) -> dict[str, np.ndarray] | None:
    """Positions among the unknowns of every structural node of a one-layer crossbar.

    Returns ``{"r", "c", "m": (M, N), "s": (N,)}`` (-1 where the node is fixed or absent), or
    ``None`` when the circuit is not one crossbar whose unknowns are exactly these nodes (several
    layers, a node merged by a zero resistance into another slot, ...).
    """
    if len(topo.sense_nodes) != 1 or topo.links:
        return None
    shapes = {prefix: shape for _, prefix, shape in topo.blocks}
    if "r0_" not in shapes:
        return None
    M, N = shapes["r0_"]
    slots: dict[str, np.ndarray] = {k: np.full((M, N), -1, dtype=np.int64) for k in ("r", "c", "m")}
    slots["s"] = np.full(N, -1, dtype=np.int64)

    def put(kind: str, idx: tuple[np.ndarray, ...], nodes: np.ndarray) -> bool:
        u = upos[nodes]
        arr = slots[kind]
        cur = arr[idx]
        if np.any((cur >= 0) & (cur != u)):
            return False
        arr[idx] = u
        return True

    ok = True
    cell = None
    for g in topo.resistors:
        i, j = g.i, g.j
        if g.kind == "rw":
            ok &= put("r", (i, j), g.n1) and put("r", (i, j + 1), g.n2)
        elif g.kind == "cw":
            ok &= put("c", (i, j), g.n1) and put("c", (i + 1, j), g.n2)
        elif g.kind == "drv":
            ok &= put("r", (i, j), g.n2)
        elif g.kind == "sen":
            ok &= put("c", (i, j), g.n1) and put("s", (j,), g.n2)
        elif g.kind == "ref":
            ok &= put("s", (j,), g.n1)
        elif g.kind == "cell":
            cell = g
        else:
            return None
    for mg in topo.mosfets:
        ok &= put("m", (mg.i, mg.j), mg.d) and put("c", (mg.i, mg.j), mg.s)
        if cell is not None:
            ok &= put("r", (cell.i, cell.j), cell.n1) and put("m", (cell.i, cell.j), cell.n2)
    for dg in topo.diodes:
        ok &= put("r", (dg.i, dg.j), dg.n1) and put("m", (dg.i, dg.j), dg.n2)
        if cell is not None:
            ok &= put("m", (cell.i, cell.j), cell.n1) and put("c", (cell.i, cell.j), cell.n2)
    if not topo.mosfets and not topo.diodes and cell is not None:
        ok &= put("r", (cell.i, cell.j), cell.n1) and put("c", (cell.i, cell.j), cell.n2)
    if not ok:
        return None
    # Without a sense resistor the last column node and the sense node are one node.
    slots["s"][slots["s"] == slots["c"][-1]] = -1
    used = np.concatenate([a.ravel() for a in slots.values()])
    used = used[used >= 0]
    n_u = int((upos >= 0).sum())
    if not n_u or used.size != n_u or not np.all(np.bincount(used, minlength=n_u) == 1):
        return None
    return slots


class CrossbarLU:
    """Block-tridiagonal LU of one crossbar Jacobian; :meth:`solve` applies its inverse.

    ``single=True`` runs the block sweeps (the dense products) in float32. The chord iteration
    may do that: it only needs ``J0^-1`` approximately (the residual it corrects stays float64,
    as in iterative refinement), and :meth:`build` takes single precision only where a test
    solve shows it within 1e-4 of the float64 one.
    """

    def __init__(self, slots: dict[str, np.ndarray], n_u: int, coef: dict[str, np.ndarray]) -> None:
        self.n_u = n_u
        r, c, m, s = slots["r"], slots["c"], slots["m"], slots["s"]
        self.M, self.N = M, N = r.shape
        self.has_m = bool((m >= 0).any())
        self.has_s = bool((s >= 0).any())
        # The structured layout of a vector: r (M N), c (M N), [m (M N)], [s (N)]; a fixed or
        # absent node keeps its place as a dummy (identity row, always 0).
        parts = [r.ravel(), c.ravel()] + ([m.ravel()] if self.has_m else []) + ([s] if self.has_s else [])
        where = np.concatenate(parts)
        self.n_s = where.size
        self.order = np.flatnonzero(where >= 0)  # structured positions of the unknowns ...
        self.order = self.order[np.argsort(where[self.order])]  # ... in unknown order
        self.single = False
        k = coef
        # Middle nodes (pendant on r and c): eliminated first.
        amm = k["mm"]
        self.m_r = k["rm"] / amm  # f_r -= m_r f_m
        self.m_c = k["cm"] / amm
        self.mm_inv, self.mr, self.mc = 1.0 / amm, k["mr"], k["mc"]
        arr = k["rr"] - k["rm"] * k["mr"] / amm
        arc = k["rc"] - k["rm"] * k["mc"] / amm
        acr = k["cr"] - k["cm"] * k["mr"] / amm
        acc = k["cc"] - k["cm"] * k["mc"] / amm
        # Sense nodes (pendant on the last row's column nodes).
        ass = k["ss"]
        self.s_c = k["cs"] / ass
        self.ss_inv, self.sc = 1.0 / ass, k["sc"]
        acc = acc.copy()
        acc[-1] -= k["cs"] * k["sc"] / ass
        self.arc, self.acr = arc, acr
        # Row wires: tridiagonal per row (hl[:, j] couples j to j - 1, hu[:, j] to j + 1).
        hl, hu = k["hl"], k["hu"]
        M, N = self.M, self.N
        d = np.empty((M, N))
        d[:, 0] = arr[:, 0]
        for j in range(1, N):
            d[:, j] = arr[:, j] - hl[:, j] * hu[:, j - 1] / d[:, j - 1]
        self.t_dinv, self.t_l, self.t_u = 1.0 / d, np.ascontiguousarray(hl), np.ascontiguousarray(hu)
        # Each row's tridiagonal inverse, needed only to form the blocks: Sinv[i] = S_i^-1.
        eye = np.zeros((M, N, N))
        eye[:, np.arange(N), np.arange(N)] = 1.0
        Sinv = thomas(self.t_dinv, self.t_l, self.t_u, eye)  # [i, j, k] = (S_i^-1)[j, k]
        H = -acr[:, :, None] * Sinv * arc[:, None, :]
        H[:, np.arange(N), np.arange(N)] += acc
        del Sinv, eye
        # Column wires between rows i and i + 1: el[i] = J[c(i+1), c(i)], eu[i] = J[c(i), c(i+1)].
        el, eu = k["el"], k["eu"]
        W = np.empty((M, N, N))  # inverses of the pivot blocks
        W[0] = np.linalg.inv(H[0])
        for i in range(1, M):
            W[i] = np.linalg.inv(H[i] - el[i - 1][:, None] * W[i - 1] * eu[i - 1][None, :])
        self.W, self.el, self.eu = W, np.ascontiguousarray(el), np.ascontiguousarray(eu)
        self.W32: np.ndarray | None = None

    def use_single(self) -> None:
        """Run the block sweeps in float32 (see the class docstring)."""
        self.W32 = self.W.astype(np.float32)
        self.el32 = self.el.astype(np.float32)
        self.eu32 = self.eu.astype(np.float32)
        self.single = True

    # ------------------------------------------------------------------ solve
    def _sweeps(self, g: np.ndarray, ws: Workspace) -> np.ndarray:
        """Block forward/backward substitution over the crossbar rows; g (M, N, K) -> x_c, in place."""
        if not self.single:
            return block_sweeps(self.W, self.el, self.eu, g)
        assert self.W32 is not None
        z = ws.get("blu_z", g.shape, np.float32)
        z[...] = g
        block_sweeps(self.W32, self.el32, self.eu32, z)
        g[...] = z
        return g

    def solve_structured(
        self, F: np.ndarray, out: np.ndarray | None = None, ws: Workspace | None = None
    ) -> np.ndarray:
        """``J^-1 F`` for F (n_s, K) in the structured layout (see ``order``); same layout returned.

        ``out`` (n_s, K, C-contiguous, not F) receives the result; ``ws`` lends the scratch arrays.
        """
        K = F.shape[1]
        M, N = self.M, self.N
        mn = M * N
        F = np.ascontiguousarray(F)
        ws = ws if ws is not None else Workspace()
        fr = F[:mn].reshape(M, N, K)
        fc = F[mn : 2 * mn].reshape(M, N, K)
        out = np.empty_like(F) if out is None else out
        xr = out[:mn].reshape(M, N, K)
        xc = out[mn : 2 * mn].reshape(M, N, K)
        t = ws.get("blu_t", (M, N, K))
        if self.has_m:
            fm = F[2 * mn : 3 * mn].reshape(M, N, K)
            pendant_in(fr, fc, fm, self.m_r, self.m_c, xr, xc, t)
        else:
            xr[...] = fr
            xc[...] = fc
            t[...] = fr
        if self.has_s:
            fs = F[self.n_s - N :]
            xc[-1] -= self.s_c[:, None] * fs
        thomas(self.t_dinv, self.t_l, self.t_u, t)  # S^-1 f_r
        axpy(xc, xc, self.acr, t)
        self._sweeps(xc, ws)
        axpy(xr, xr, self.arc, xc)
        thomas(self.t_dinv, self.t_l, self.t_u, xr)
        if self.has_m:
            xm = out[2 * mn : 3 * mn].reshape(M, N, K)
            pendant_out(fm, xr, xc, self.mr, self.mc, self.mm_inv, xm)
        if self.has_s:
            out[self.n_s - N :] = (fs - self.sc[:, None] * xc[-1]) * self.ss_inv[:, None]
        return out

    def solve(self, F: np.ndarray) -> np.ndarray:
        """``J^-1 F`` for F (K, n_u) in unknown order, same layout returned."""
        Fs = np.zeros((self.n_s, F.shape[0]))
        Fs[self.order] = F.T
        return np.ascontiguousarray(self.solve_structured(Fs)[self.order].T)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def plan(slots: dict[str, np.ndarray], J: sp.spmatrix, p: np.ndarray | None = None) -> _Plan | None:
        """Where each structural coefficient sits in ``J.data``, or ``None`` if the structure does not apply.

        ``slots`` come from :func:`crossbar_slots`; ``J`` is a CSC matrix whose row/column k is
        unknown ``p[k]`` (``p=None``: unknown k). The plan holds for every matrix with this
        sparsity pattern, so a later factorization only reads ``J.data`` at the planned positions.
        """
        r, c, m, s = slots["r"], slots["c"], slots["m"], slots["s"]
        M, N = r.shape
        if N > MAX_BLOCK or M * N * N > MAX_WORK:
            return None
        Jc = sp.csc_matrix(J)
        Jc.has_sorted_indices = False
        Jc.sort_indices()
        n_u = Jc.shape[0]
        new_of = np.arange(n_u) if p is None else np.argsort(p)
        col_of_entry = np.repeat(np.arange(n_u), np.diff(Jc.indptr))
        keys = col_of_entry.astype(np.int64) * n_u + Jc.indices  # ascending (sorted CSC)
        taken: list[np.ndarray] = []

        def where(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            """Position in J.data of entry (row a, column b) per slot pair; -1 if absent or no entry."""
            pos = np.full(a.shape, -1, dtype=np.int64)
            ok = (a >= 0) & (b >= 0)
            if ok.any():
                key = new_of[b[ok]].astype(np.int64) * n_u + new_of[a[ok]]
                k = np.minimum(np.searchsorted(keys, key), keys.size - 1)
                hit = keys[k] == key
                sub = np.where(hit, k, -1)
                pos[ok] = sub
                taken.append(sub[hit])
            return pos

        pos = {
            "rr": where(r, r),
            "cc": where(c, c),
            "mm": where(m, m),
            "ss": where(s, s),
            "rc": where(r, c),
            "cr": where(c, r),
            "rm": where(r, m),
            "mr": where(m, r),
            "cm": where(c, m),
            "mc": where(m, c),
            "cs": where(c[-1], s),
            "sc": where(s, c[-1]),
            "hl": np.concatenate([np.full((M, 1), -1), where(r[:, 1:], r[:, :-1])], axis=1),
            "hu": np.concatenate([where(r[:, :-1], r[:, 1:]), np.full((M, 1), -1)], axis=1),
            "el": where(c[1:], c[:-1]),
            "eu": where(c[:-1], c[1:]),
        }
        # The structure must hold every entry of J's pattern, each exactly once.
        got = np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)
        if got.size != keys.size or not np.all(np.bincount(got, minlength=keys.size) == 1):
            return None
        return _Plan(slots=slots, n_u=n_u, pos=pos)

    @classmethod
    def from_plan(cls, plan: _Plan, J: sp.spmatrix) -> CrossbarLU | None:
        """Factor ``J`` (same pattern and layout as the plan's); ``None`` if a pivot is singular."""
        Jc = sp.csc_matrix(J)
        if not Jc.has_sorted_indices:
            Jc.sort_indices()
        data = np.append(Jc.data, 0.0)  # position -1 reads 0
        coef = {k: data[v] for k, v in plan.pos.items()}
        for k in ("rr", "cc", "mm", "ss"):  # absent nodes are dummies with a unit diagonal
            coef[k] = np.where(plan.pos[k] >= 0, coef[k], 1.0)
        with np.errstate(divide="raise", invalid="raise", over="raise"):
            try:
                lu = cls(plan.slots, plan.n_u, coef)
            except (FloatingPointError, np.linalg.LinAlgError):
                return None
        if not np.all(np.isfinite(lu.W)):
            return None
        # Single-precision sweeps where a test solve shows them close to the float64 ones.
        F = np.random.default_rng(0).standard_normal((lu.n_s, 4))
        x64 = lu.solve_structured(F)
        lu.use_single()
        x32 = lu.solve_structured(F)
        if not np.abs(x32 - x64).max() <= 1e-4 * np.abs(x64).max():
            lu.single = False
        return lu

    @classmethod
    def build(cls, topo: Topology, upos: np.ndarray, J: sp.spmatrix) -> CrossbarLU | None:
        """The structured LU of ``J`` (unknowns in ``upos`` order), or ``None`` if it does not apply."""
        slots = crossbar_slots(topo, upos)
        plan = None if slots is None else cls.plan(slots, J)
        return None if plan is None else cls.from_plan(plan, J)


@dataclass(frozen=True)
class _Plan:
    slots: dict[str, np.ndarray]
    n_u: int
    pos: dict[str, np.ndarray]
