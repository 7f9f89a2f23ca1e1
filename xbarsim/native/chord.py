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
including the folded diode cells; only the matrix that maps residuals to steps is frozen.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .newton import NewtonSolver

log = logging.getLogger(__name__)

#: Stop when the estimated error is below this fraction of the largest unknown node voltage.
CHORD_TOL = 1e-10
#: A step this small relative to the node voltages is at the rounding floor of the residual.
FLOOR = 1e-13
EPS = float(np.finfo(np.float64).eps)
#: Right-hand sides per substitution call (SuperLU's multi-RHS solve is fastest for small blocks).
RHS_BLOCK = 16
#: Contraction factor above which a vector is handed to Newton after a few steps.
RHO_MAX = 0.5
#: A first block of at least this many vectors moves J0 to its mean operating point (one more LU).
RECENTRE_MIN = 16


class ChordSolver:
    """Frozen-Jacobian iteration on top of a :class:`~xbarsim.native.newton.NewtonSolver`.

    ``J0`` is the Jacobian at the zero-bias point when every device is a transistor (unknown
    nodes at 0 V, gates at their line voltage: the channel conductance, i.e. ``mos="linear"``),
    otherwise at the Newton solution of the first vector solved (a diode at zero bias is open).
    """

    def __init__(self, nw: NewtonSolver) -> None:
        self.nw = nw
        n_dev = nw.nd + nw.nm
        # Device currents [diodes (nd), transistors (nm)] -> KCL rows of the unknowns.
        self.scatter = sp.csr_matrix((-nw.i_s, (nw.i_idx, nw.i_row)), shape=(n_dev, nw.n_u))
        self.lu: Any = None  # SuperLU of J0
        self.abstol = nw.opts.abstol
        self.ymax = float(np.abs(nw.Yuu.diagonal()).max()) if nw.n_u else 0.0
        self.recentred = False
        self.iterations = 0
        self.vectors = 0

    def _full(self, xu: np.ndarray, xf: np.ndarray) -> np.ndarray:
        mna = self.nw.mna
        x = np.zeros((xu.shape[0], mna.n_nodes))
        x[:, mna.fixed] = xf
        x[:, mna.unknown] = xu
        return x

    def factor(self, xu: np.ndarray, xf: np.ndarray) -> None:
        """Factor the Jacobian at the point (xu, xf) of one vector."""
        nw = self.nw
        q, _, _, _ = nw._evaluate(*nw._terminal_voltages(self._full(xu[None, :], xf[None, :])))
        nw._vd_inner = None
        J = nw.jacobian(q)
        self.lu = splu(J, permc_spec="NATURAL", diag_pivot_thresh=0.1, options={"SymmetricMode": True})

    def residual(
        self, xu: np.ndarray, xf: np.ndarray, given: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(K, n_u) KCL residual (current leaving each unknown node), each vector's largest device current.

        ``given`` is ``Yuf @ xf.T`` (n_u, K) when the caller already has it (it does not change
        between iterations).
        """
        nw = self.nw
        F = np.asarray(nw.Yuu @ xu.T + (nw.Yuf @ xf.T if given is None else given)).T
        imax = np.zeros(xu.shape[0])
        if nw.nd + nw.nm:
            cur = nw.device_currents(self._full(xu, xf))
            F += np.asarray(self.scatter.T @ cur.T).T
            imax = np.abs(cur).max(axis=1)
        return F, imax

    def _step(self, F: np.ndarray) -> np.ndarray:
        p = self.nw.p
        d = np.empty_like(F)
        for k in range(0, F.shape[0], RHS_BLOCK):
            rhs = np.asfortranarray(F[k : k + RHS_BLOCK][:, p].T)
            d[k : k + RHS_BLOCK, p] = self.lu.solve(rhs).T
        return d

    def ensure_factor(self, xf: np.ndarray) -> None:
        """Factor ``J0`` once (see the class docstring); ``xf`` (K, n_fixed) is the first batch."""
        if self.lu is not None:
            return
        nw = self.nw
        if nw.nd == 0:
            zero = nw.mna.fixed_values(np.zeros((1, nw.mna.input_f.size)))[0]
            self.factor(np.zeros(nw.n_u), zero)
        else:
            xu, _, _ = nw.solve(xf[0])
            self.factor(xu, xf[0])

    def solve(self, xf: np.ndarray, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
        """Unknown-node voltages (K, n_u) of K vectors and a mask of the ones that did not converge."""
        self.ensure_factor(xf)
        K = xf.shape[0]
        xu = np.zeros((K, self.nw.n_u))
        prev = np.full(K, np.inf)
        active = np.arange(K)
        failed = np.zeros(K, dtype=bool)
        given = np.asarray(self.nw.Yuf @ xf.T)
        for it in range(1, max_iter + 1):
            F, imax = self.residual(xu[active], xf[active], given[:, active])
            fn = np.abs(F).max(axis=1) if F.shape[1] else np.zeros(active.size)
            d = self._step(F)
            self.nw._vd_inner = None
            xu[active] -= d
            dn = np.abs(d).max(axis=1) if d.shape[1] else np.zeros(active.size)
            bad = ~np.isfinite(dn)
            scale = np.abs(xu[active]).max(axis=1) if d.shape[1] else np.ones(active.size)
            with np.errstate(divide="ignore", invalid="ignore"):
                rho = dn / prev[active]
                est = dn * rho / (1.0 - rho)
            # Currents too: the residual left after this step (about rho times this one) must be
            # small next to the device currents, or at the rounding floor of the nodal sums.
            tol_i = np.maximum(CHORD_TOL * imax, np.maximum(1e-3 * self.abstol, 16 * EPS * self.ymax * scale))
            conv = (rho * fn <= tol_i) & (
                (dn <= FLOOR * scale) | ((it >= 2) & (rho < 1.0) & (est <= CHORD_TOL * scale))
            )
            # Contracting too slowly to beat Newton (J0 is far from this vector's Jacobian).
            bad |= ~conv & (it >= 4) & (rho > RHO_MAX)
            prev[active] = dn
            failed[active[bad]] = True
            self.iterations += active.size
            active = active[~(conv | bad)]
            if not active.size:
                break
        failed[active] = True
        if self.nw.nd == 0 and not self.recentred and K >= RECENTRE_MIN and not failed.all():
            # Move J0 from zero bias to the mean operating point of this first block: the
            # transistors' Jacobian then deviates by about half as much from each vector's.
            ok = ~failed
            self.factor(xu[ok].mean(axis=0), xf[ok].mean(axis=0))
            self.recentred = True
        self.vectors += K
        if failed.any():
            log.info("native: chord iteration left %d of %d vectors to Newton", int(failed.sum()), K)
        return xu, failed
