"""Chord (modified) Newton for batches of read vectors: one factorization for every iteration and vector.

Plain SPICE Newton refactors the Jacobian of every vector at every iteration, and that sparse LU
is what a nonlinear batch spends its time on. In read conditions the cells are nearly linear
around one operating point (an access transistor deep in its linear region is its channel
conductance to a few 1e-4), so the Jacobian ``J0`` at that point, factored once, solves

    x_{k+1} = x_k - J0^-1 F(x_k),        F = KCL residual of the exact circuit equations,

for all vectors of a batch, each iteration one forward/back substitution with many right-hand
sides. The iteration contracts by ``rho ~ ||J0^-1 (J - J0)||`` per step. It stops when the
estimated remaining error ``|dx| rho / (1 - rho)`` is below ``CHORD_TOL`` of the largest node
voltage (far tighter than SPICE's ``reltol``: the answer is the same root Newton finds, to
~1e-11), or when the step reaches the rounding floor. Vectors it does not bring there within
``max_iter`` steps (strongly nonlinear points, e.g. a transistor in saturation) are left to the
full Newton with its gmin and source stepping, so a failure still ends in ``ConvergenceError``.

``F`` is evaluated with the same device equations as Newton (:mod:`xbarsim.native.devices`),
including the folded diode cells (compiled: :mod:`xbarsim.native.kernels`); only the matrix that
maps residuals to steps is frozen, and on one crossbar it is solved by the structured LU of
:mod:`xbarsim.native.blocktri` (see ``xbarsim/backends/README.md`` for the figures).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .blocktri import CrossbarLU, crossbar_slots
from .kernels import (
    Workspace,
    col_absmax,
    linear_residual,
    mos_residual,
    series_residual,
    step_update,
    take_cols,
    unpack,
)
from .linalg_kernels import anderson_mix, anderson_push
from .newton import NewtonSolver

log = logging.getLogger(__name__)

#: Stop when the estimated error is below this fraction of the largest unknown node voltage.
CHORD_TOL = 1e-10
#: A step this small relative to the node voltages is at the rounding floor of the residual.
FLOOR = 1e-13
EPS = float(np.finfo(np.float64).eps)
#: Right-hand sides per substitution call (SuperLU's multi-RHS solve is fastest for small blocks).
RHS_BLOCK = 16
#: Contraction factor above which a vector is handed to Newton after a few steps (SuperLU
#: substitutions; the structured solve's steps are cheap enough to keep contracting slowly).
RHO_MAX = 0.5
RHO_MAX_STRUCTURED = 0.9
#: Anderson acceleration depth for circuits with diodes (0: plain chord). 128x128 diodes, 0/5 V
#: binary reads: 32.8 chord steps per vector plain, 21.8 at depth 1, 14.9 at 3, 13.6 at 5;
#: transistor circuits (4.7 steps) gain too little to pay for the extra passes.
AA_DEPTH = 3
#: A first block of at least this many vectors moves J0 to its mean operating point (one more LU).
RECENTRE_MIN = 16


class _Anderson:
    """Anderson acceleration (type II, depth ``m``) of the fixed-point map ``g(x) = x - J0^-1 F(x)``.

    After each chord step (``x`` already holds ``g(x_k)``, ``d`` the step) the next iterate is
    ``g(x_k) - sum_j gamma_j (g_{j+1} - g_j)`` with ``gamma`` the least-squares fit of the steps'
    differences to the present step, per vector. For a linear map this is GMRES on the
    preconditioned system; it matters when J0 is far from a vector's Jacobian (diodes that are
    off in that vector), where the plain chord contracts slowly.
    """

    def __init__(self, m: int) -> None:
        self.m = m
        self.n_hist = 0  # pairs stored (<= m), the newest at slot (head - 1) % m
        self.head = 0
        self.dG: np.ndarray | None = None  # (m, n, K) ring buffers
        self.dF: np.ndarray | None = None
        self.gram: np.ndarray | None = None  # (K, m, m) dF_i . dF_j by slot
        self.g_prev: np.ndarray | None = None
        self.d_prev: np.ndarray | None = None

    def reset(self) -> None:
        self.n_hist = self.head = 0
        self.g_prev = self.d_prev = None

    def compress(self, keep: np.ndarray) -> None:
        idx = np.flatnonzero(keep)
        if self.dG is not None and self.dF is not None and self.gram is not None:
            self.dG = np.ascontiguousarray(self.dG[:, :, idx])
            self.dF = np.ascontiguousarray(self.dF[:, :, idx])
            self.gram = np.ascontiguousarray(self.gram[idx])
        if self.g_prev is not None and self.d_prev is not None:
            self.g_prev = np.ascontiguousarray(self.g_prev[:, idx])
            self.d_prev = np.ascontiguousarray(self.d_prev[:, idx])

    def apply(self, x: np.ndarray, d: np.ndarray) -> None:
        n, K = x.shape
        m = self.m
        if self.g_prev is None or self.d_prev is None:
            self.g_prev, self.d_prev = x.copy(), d.copy()
            return
        if self.dG is None or self.dF is None or self.gram is None or self.dG.shape[1:] != (n, K):
            # Zeros, not empty: slots not filled yet are multiplied by gamma = 0, and 0 * NaN
            # from uninitialized memory would poison every vector.
            self.dG, self.dF = np.zeros((m, n, K)), np.zeros((m, n, K))
            self.gram = np.zeros((K, m, m))
        slot = self.head
        self.head = (self.head + 1) % m
        self.n_hist = min(m, self.n_hist + 1)
        # One pass: the new difference pair, its dot products with every stored dF and with the
        # present step, and g_prev / d_prev moved on (kernels.anderson_push).
        row, b = anderson_push(x, d, self.g_prev, self.d_prev, self.dG, self.dF, slot, self.n_hist, self.head)
        self.gram[:, slot, :] = row
        self.gram[:, :, slot] = row
        used = [(self.head - 1 - j) % m for j in range(self.n_hist)]
        A = self.gram[:, used][:, :, used]
        rhs = b[:, used]
        tr = np.trace(A, axis1=1, axis2=2)
        A = A + (1e-12 * tr + 1e-300)[:, None, None] * np.eye(len(used))
        gamma = np.linalg.solve(A, rhs[:, :, None])[:, :, 0]
        gamma[~np.isfinite(gamma).all(axis=1)] = 0.0
        full = np.zeros((K, m))
        full[:, used] = gamma
        anderson_mix(x, self.dG, full)


class ChordSolver:
    """Frozen-Jacobian iteration on top of a :class:`~xbarsim.native.newton.NewtonSolver`.

    ``J0`` is the Jacobian at the zero-bias point when every device is a transistor (unknown
    nodes at 0 V, gates at their line voltage: the channel conductance, i.e. ``mos="linear"``),
    moved after the first step of the first block to that block's mean operating point. With
    diodes (open at zero bias) it is the Jacobian with every input at its largest value in the
    batch: at ideal wires for one crossbar, else at the Newton solution there; Anderson
    acceleration (:class:`_Anderson`) then makes up for the rows that are off in a vector. One
    crossbar gets the structured LU (:mod:`xbarsim.native.blocktri`) and the iteration runs in
    its layout; anything else factors ``J0`` with SuperLU.

    Internally vectors are the last axis: node voltages are (n_s, K), with the unknowns at
    ``order`` (the structured layout, or the identity).
    """

    def __init__(self, nw: NewtonSolver) -> None:
        self.nw = nw
        self.lu: Any = None  # SuperLU of J0 (when the crossbar structure does not apply)
        self.blu: CrossbarLU | None = None  # structured LU of J0 (one crossbar)
        self.plan: Any = None  # the structure found by the first factorization (reused after)
        self.plan_layout = -1  # the Newton Jacobian layout the plan was made for
        self.slots = crossbar_slots(nw.mna.topo, nw.mna.upos)  # None: not one crossbar
        self.abstol = nw.opts.abstol
        self.ymax = float(np.abs(nw.Yuu.diagonal()).max()) if nw.n_u else 0.0
        self.recentred = False
        self.iterations = 0
        self.vectors = 0
        self.handed = 0  # vectors left to Newton
        self.ws = Workspace()
        self.vd: np.ndarray | None = None  # folded diode cells' warm starts (kernels.series_residual)
        self._layout(np.arange(nw.n_u), nw.n_u)

    def _layout(self, order: np.ndarray, n_s: int) -> None:
        """Residual data in the layout where unknown u sits at position ``order[u]`` of n_s."""
        nw = self.nw
        self.order, self.n_s = order, n_s
        P = sp.csr_matrix((np.ones(nw.n_u), (order, np.arange(nw.n_u))), shape=(n_s, nw.n_u))
        self.Ys = sp.csr_matrix(P @ nw.Yuu @ P.T)
        self.Ys.sort_indices()
        self.Yfs = sp.csr_matrix(P @ nw.Yuf)
        self.Yfs.sort_indices()
        n_dev = nw.nd + nw.nm
        # Device currents [diodes (nd), transistors (nm)] -> KCL rows (the generic path, diodes).
        self.scatter = sp.csr_matrix((-nw.i_s, (order[nw.i_row], nw.i_idx)), shape=(n_s, n_dev))
        mna, mos = nw.mna, nw.mos

        def enc(nodes: np.ndarray) -> np.ndarray:
            u = mna.upos[nodes]
            pos = order[np.maximum(u, 0)] if order.size else np.zeros_like(u)
            return np.where(u >= 0, pos, -1 - mna.fpos[nodes]).astype(np.int64)

        self.mos_enc = (enc(mos.d), enc(mos.g), enc(mos.s))
        self.mos_par = (mos.beta, mos.vto, mos.lam)
        dio = nw.dio
        self.dio_enc = (enc(dio.a), enc(dio.k))

    def _full(self, xu: np.ndarray, xf: np.ndarray) -> np.ndarray:
        """(K, n_nodes) node voltages from unknowns (K, n_u) and fixed voltages (K, n_fixed)."""
        mna = self.nw.mna
        x = np.zeros((xu.shape[0], mna.n_nodes))
        x[:, mna.fixed] = xf
        x[:, mna.unknown] = xu
        return x

    def factor(self, xu: np.ndarray, xf: np.ndarray) -> None:
        """Factor the Jacobian at the point (xu (n_u,), xf (n_fixed,)) of one vector."""
        nw = self.nw
        q, _, _, _ = nw._evaluate(*nw._terminal_voltages(self._full(xu[None, :], xf[None, :])))
        nw._vd_inner = None
        if self.plan is None or (self.plan and self.plan_layout != nw.layout_id):
            plan = None if self.slots is None else CrossbarLU.plan(self.slots, nw.jacobian(q), nw.p)
            self.plan = plan or False
            self.plan_layout = nw.layout_id
        if self.plan:
            self.blu = CrossbarLU.from_plan(self.plan, nw.jacobian(q))
            if self.blu is not None:
                if self.n_s != self.blu.n_s:
                    self._layout(self.blu.order, self.blu.n_s)
                self.lu = None
                return
        nw.ensure_ordered()  # the sparse LU below factors in Newton's fill-reducing layout
        if self.n_s != nw.n_u:
            self._layout(np.arange(nw.n_u), nw.n_u)
        self.blu = None
        self.lu = splu(
            nw.jacobian(q), permc_spec="NATURAL", diag_pivot_thresh=0.1, options={"SymmetricMode": True}
        )

    def residual(self, xs: np.ndarray, xf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n_s, K) KCL residual (current leaving each node), each vector's largest device current.

        ``xs`` (n_s, K) node voltages in this solver's layout, ``xf`` (n_fixed, K) the fixed nodes.
        """
        nw = self.nw
        F = linear_residual(xs, xf, self.Ys, self.Yfs, self.ws.get("F", xs.shape))
        if nw.nd and nw.g_series is not None and not nw.nm and self.vd is not None:
            d = nw.dio
            par = (nw.g_series, d.is_, d.vte, nw.opts.gmin)
            return F, series_residual(xs, xf, self.dio_enc, par, self.vd, F)
        if nw.nd:
            cur = nw.device_currents(self._full(xs[self.order].T, xf.T))
            F += self.scatter @ cur.T
            return F, np.abs(cur).max(axis=1)
        if nw.nm:
            return F, mos_residual(xs, xf, self.mos_enc, self.mos_par, F)
        return F, np.zeros(xs.shape[1])

    def _step(self, F: np.ndarray) -> np.ndarray:
        if self.blu is not None:
            return self.blu.solve_structured(F, self.ws.get("d", F.shape), self.ws)
        p = self.nw.p
        d = np.empty_like(F)
        Fp = F[p]
        for k in range(0, F.shape[1], RHS_BLOCK):
            d[p, k : k + RHS_BLOCK] = self.lu.solve(np.asfortranarray(Fp[:, k : k + RHS_BLOCK]))
        return d

    def ensure_factor(self, xf: np.ndarray) -> None:
        """Factor ``J0`` once (see the class docstring); ``xf`` (K, n_fixed) is the first batch."""
        if self.lu is not None or self.blu is not None:
            return
        nw = self.nw
        if nw.nd == 0:
            zero = nw.mna.fixed_values(np.zeros((1, nw.mna.input_f.size)))[0]
            self.factor(np.zeros(nw.n_u), zero)
        else:
            # Diodes: J0 at the point where every input is at its largest value in the batch
            # (every cell of a binary read on): a diode that is off in a vector then only
            # removes conductance, so the iteration contracts (the error operator's spectrum
            # lies in [0, 1)); J0 at an off diode would diverge where that diode is on.
            top = xf.max(axis=0)
            slots = self.slots
            if slots is not None:
                # One crossbar: at ideal wires (each row at its input, each column at 0 V); no
                # Newton solve needed, J0 is only the iteration's preconditioner.
                xu = np.zeros(nw.n_u)
                drive = top[nw.mna.fpos[nw.mna.topo.input_nodes]]
                r = slots["r"]
                ok = r >= 0
                xu[r[ok]] = np.broadcast_to(drive[:, None], r.shape)[ok]
            else:
                xu, _, _ = nw.solve(top)
            self.factor(xu, top)

    def solve(
        self, xf: np.ndarray, max_iter: int, cols: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Unknown-node voltages (K, n_u) of K vectors and a mask of the ones that did not converge.

        ``cols`` (unknown indices) keeps only those columns: (K, len(cols)).
        """
        self.ensure_factor(xf)
        K = xf.shape[0]
        keep_u = self.order if cols is None else self.order[cols]
        xu = np.empty((K, keep_u.size))
        active = np.arange(K)
        failed = np.zeros(K, dtype=bool)
        # Working copies of the vectors still iterating, (nodes, vectors); compressed as they finish.
        fa = np.ascontiguousarray(np.asarray(xf, dtype=np.float64).T)
        xa = self.ws.get("x0", (self.n_s, K))
        xa[...] = 0.0
        if self.nw.nd and self.nw.g_series is not None:
            self.vd = np.full((3, self.nw.nd, K), np.nan)
        spare = "x1"
        aa = _Anderson(AA_DEPTH) if AA_DEPTH and self.nw.nd else None
        prev = np.full(K, np.inf)
        rho0 = np.zeros(K)  # the plain chord's contraction (measured before acceleration acts)
        rho_max = RHO_MAX_STRUCTURED if self.blu is not None else RHO_MAX
        finished = np.zeros(K, dtype=bool)
        first = 1  # the step whose size is the first reference for the contraction
        for it in range(1, max_iter + 1):
            F, imax = self.residual(xa, fa)
            fn = col_absmax(F)
            d = self._step(F)
            self.nw._vd_inner = None
            dn, scale = step_update(xa, d)
            bad = ~np.isfinite(dn)
            if it == 1 and self.nw.nd == 0 and not self.recentred and K >= RECENTRE_MIN and not bad.any():
                # Move J0 from zero bias to the mean operating point after the first step (about
                # the linear-channel solution): it then deviates about half as much from each
                # vector's Jacobian. The next step is measured against a fresh reference.
                self.recentred = True
                had = self.blu is not None
                self.factor(xa.mean(axis=1)[self.order], fa.mean(axis=1))
                keep_u = self.order if cols is None else self.order[cols]
                if (self.blu is not None) != had:  # the layout changed; restart this block in it
                    return self.solve(xf, max_iter, cols)
                prev[:] = np.inf
                first = 2
                if aa is not None:
                    aa.reset()
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                rho = dn / prev
                if aa is not None:
                    # The accepted point is a plain chord step, whose error is the plain
                    # contraction times the present one: estimate with the larger of the two.
                    if it == first + 1:
                        rho0 = rho.copy()
                    rho = np.maximum(rho, rho0)
                est = dn * rho / (1.0 - rho)
            # Currents too: the residual left after this step (about rho times this one) must be
            # small next to the device currents, or at the rounding floor of the nodal sums.
            tol_i = np.maximum(CHORD_TOL * imax, np.maximum(1e-3 * self.abstol, 16 * EPS * self.ymax * scale))
            conv = (rho * fn <= tol_i) & (
                (dn <= FLOOR * scale) | ((it > first) & (rho < 1.0) & (est <= CHORD_TOL * scale))
            )
            # Contracting too slowly to beat Newton (J0 is far from this vector's Jacobian).
            bad |= ~conv & (it >= first + 3) & (rho > rho_max)
            prev = dn
            bad &= ~finished
            failed[active[bad]] = True
            self.iterations += int((~finished).sum())
            done = (conv | bad) & ~finished
            if done.any():
                done_c = np.flatnonzero(done)
                unpack(xa, done_c, keep_u, xu, active[done_c])
                finished |= done
            if finished.all():
                break
            if aa is not None:
                aa.apply(xa, d)
            if finished.sum() * 4 >= finished.size:
                # Drop the finished vectors once they are a quarter of the block (each copy of
                # the block costs about one step; until then they iterate along, harmlessly).
                keep = ~finished
                active, prev, finished, rho0 = active[keep], prev[keep], finished[keep], rho0[keep]
                nxt = self.ws.get(spare, (self.n_s, int(keep.sum())))
                take_cols(xa, np.flatnonzero(keep), nxt)
                spare = "x1" if spare == "x0" else "x0"
                xa, fa = nxt, np.ascontiguousarray(fa[:, keep])
                if self.vd is not None:
                    self.vd = np.ascontiguousarray(self.vd[:, :, keep])
                if aa is not None:
                    aa.compress(keep)
        left = np.flatnonzero(~finished)
        active = active[left]
        if active.size:
            unpack(xa, left, keep_u, xu, active)
        failed[active] = True
        self.vectors += K
        self.handed += int(failed.sum())
        if failed.any():
            log.info("native: chord iteration left %d of %d vectors to Newton", int(failed.sum()), K)
        return xu, failed
