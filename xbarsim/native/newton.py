"""Damped Newton-Raphson for crossbars with diode or MOS1 cells, SPICE style.

Each iteration evaluates every device at its (limited) junction voltages, stamps the companion
model (conductances + equivalent current sources) into the sparse Jacobian of the unknown nodes
and solves for the next node voltages, as ngspice's ``NIiter`` does. Convergence needs, like
SPICE: no device limited in this iteration, every node voltage changed by at most
``reltol * max(|new|, |old|) + vntol``, and every device current predicted by its linearization
within ``reltol * max(|predicted|, |present|) + abstol``. When plain Newton fails, gmin stepping
(a shunt conductance on every node, reduced decade by decade) and then source stepping (inputs and
gates ramped from 0) are tried before a :class:`~xbarsim.errors.ConvergenceError`.

Vectors of a batch are solved in order, each starting from the previous solution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .devices import diode_eval, fetlim, limvds, mos1_eval, pnjlim, series_diode_eval
from .mna import Diodes, Mna

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewtonOptions:
    """SPICE convergence parameters (ngspice defaults) and the iteration limit per attempt."""

    reltol: float = 1e-3
    abstol: float = 1e-12
    vntol: float = 1e-6
    max_iter: int = 100
    gmin: float = 1e-12


def series_reduce(mna: Mna) -> tuple[Mna, np.ndarray | None, np.ndarray | None]:
    """Fold each diode with the cell resistor behind it into one series element.

    A diode cell's middle node touches only its diode and its programmed resistor, so Newton can
    treat "diode + 1/G" as one two-terminal element whose current comes from an exact per-cell
    solve (:func:`~xbarsim.native.devices.series_diode_eval`). The circuit equations are the same;
    the sparse system loses a third of its unknowns and the outer Newton sees a current bounded
    by G V instead of an exponential, so it needs far fewer iterations. Returns the reduced
    system, the series conductances and the removed middle nodes (``None`` when not applicable).
    """
    d = mna.diodes
    if d is None:
        return mna, None, None
    k = d.k
    if np.any(mna.upos[k] < 0) or np.unique(k).size != k.size:
        return mna, None, None
    if mna.mosfets is not None and np.isin(k, np.concatenate([mna.mosfets.d, mna.mosfets.g, mna.mosfets.s])).any():
        return mna, None, None
    if np.isin(k, d.a).any():
        return mna, None, None
    Y = sp.csr_matrix(mna.Y)
    Y.sort_indices()
    if np.any(np.diff(Y.indptr)[k] != 2):
        return mna, None, None
    rows = Y[k]
    cols = rows.indices.reshape(-1, 2)
    vals = rows.data.reshape(-1, 2)
    off = cols != k[:, None]
    if np.any(off.sum(axis=1) != 1):
        return mna, None, None
    c = cols[off]
    g = -vals[off]
    if not np.allclose(vals[~off], g, rtol=1e-12, atol=0) or np.any(g <= 0):
        return mna, None, None
    n = mna.n_nodes
    C = sp.coo_matrix((np.concatenate([g, g, -g, -g]), (np.concatenate([k, c, k, c]), np.concatenate([k, c, c, k]))),
                      shape=(n, n)).tocsr()
    Y_red = (Y - C).tocsr()
    Y_red.eliminate_zeros()
    fixed_vals = dict(zip(mna.fixed.tolist(), mna.fixed_const.tolist()))
    for node in k.tolist():
        fixed_vals[node] = 0.0  # disconnected placeholder; its voltage is rebuilt afterwards
    fixed = np.array(sorted(fixed_vals), dtype=np.int64)
    is_fixed = np.zeros(n, dtype=bool)
    is_fixed[fixed] = True
    unknown = np.flatnonzero(~is_fixed)
    upos = np.full(n, -1, dtype=np.int64)
    upos[unknown] = np.arange(unknown.size)
    fpos = np.full(n, -1, dtype=np.int64)
    fpos[fixed] = np.arange(fixed.size)
    red = replace(
        mna, Y=Y_red, unknown=unknown, fixed=fixed, upos=upos, fpos=fpos,
        fixed_const=np.array([fixed_vals[int(f)] for f in fixed]), input_f=fpos[mna.topo.input_nodes],
        diodes=Diodes(a=d.a, k=c, is_=d.is_, vte=d.vte, vcrit=d.vcrit),
    )
    return red, g, k


class _Failed(Exception):
    pass


class NewtonSolver:
    """Precomputed stamping pattern of one circuit; :meth:`solve` runs one input vector."""

    def __init__(self, mna: Mna, opts: NewtonOptions, *, series: bool = True) -> None:
        self.full = mna
        if series:
            mna, self.g_series, self.mid_nodes = series_reduce(mna)
        else:
            self.g_series = self.mid_nodes = None
        self.mna = mna
        self.opts = opts
        self._vd_inner: np.ndarray | None = None
        n_u = mna.unknown.size
        self.n_u = n_u
        upos, fpos = mna.upos, mna.fpos
        Y = mna.Y
        Yu = Y[mna.unknown]
        Yuu = Yu[:, mna.unknown].tocoo()
        self.Yuf = Yu[:, mna.fixed].tocsr()
        d, m = mna.diodes, mna.mosfets
        self.nd = 0 if d is None else d.a.size
        self.nm = 0 if m is None else m.d.size
        nd, nm = self.nd, self.nm
        # Device quantity vector q = [gd (nd), dI/dvgs (nm), dI/dvds (nm)]; entries (row, col, q index, sign).
        er: list[np.ndarray] = []
        ec: list[np.ndarray] = []
        eq: list[np.ndarray] = []
        es: list[np.ndarray] = []

        def add(r, c, qi, s):
            er.append(r)
            ec.append(c)
            eq.append(qi)
            es.append(np.full(r.size, float(s)))

        # Equivalent current sources: (row node, ieq index, sign) with ieq = [diodes (nd), mos (nm)].
        ir: list[np.ndarray] = []
        ii: list[np.ndarray] = []
        isg: list[np.ndarray] = []
        if nd:
            k = np.arange(nd)
            add(d.a, d.a, k, 1)
            add(d.k, d.k, k, 1)
            add(d.a, d.k, k, -1)
            add(d.k, d.a, k, -1)
            ir += [d.a, d.k]
            ii += [k, k]
            isg += [np.full(nd, -1.0), np.full(nd, 1.0)]
        if nm:
            k = np.arange(nm)
            qg, qd = nd + k, nd + nm + k
            add(m.d, m.d, qd, 1)
            add(m.d, m.g, qg, 1)
            add(m.d, m.s, qg, -1)
            add(m.d, m.s, qd, -1)
            add(m.s, m.d, qd, -1)
            add(m.s, m.g, qg, -1)
            add(m.s, m.s, qg, 1)
            add(m.s, m.s, qd, 1)
            ir += [m.d, m.s]
            ii += [nd + k, nd + k]
            isg += [np.full(nm, -1.0), np.full(nm, 1.0)]
        er_, ec_, eq_, es_ = (np.concatenate(x) if x else np.zeros(0) for x in (er, ec, eq, es))
        er_ = er_.astype(np.int64)
        ec_ = ec_.astype(np.int64)
        eq_ = eq_.astype(np.int64)
        ru, cu, cf = upos[er_], upos[ec_], fpos[ec_]
        in_j = (ru >= 0) & (cu >= 0)
        in_f = (ru >= 0) & (cf > 0)  # fixed column other than ground -> right-hand side
        # Jacobian pattern = Yuu pattern + device entries (+ diagonal for gmin stepping), in CSC,
        # laid out directly in a fill-reducing order found once (minimum degree on A + A^T), so
        # every Newton iteration only refills values and factors with that order.
        diag = np.arange(n_u)
        all_r = np.concatenate([Yuu.row, ru[in_j], diag]).astype(np.int64)
        all_c = np.concatenate([Yuu.col, cu[in_j], diag]).astype(np.int64)
        n_y = Yuu.nnz
        n_dev = int(in_j.sum())
        trial = np.concatenate([np.abs(Yuu.data), np.full(n_dev, 1e-3), np.full(n_u, 1e-12)])
        J0 = sp.csc_matrix((trial, (all_r, all_c)), shape=(n_u, n_u))
        lu0 = splu(J0, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        new_of_old = np.asarray(lu0.perm_c, dtype=np.int64)
        del lu0
        self.p = np.argsort(new_of_old)  # p[new] = old
        keys = new_of_old[all_c] * n_u + new_of_old[all_r]
        uniq, inv = np.unique(keys, return_inverse=True)
        self.nnz = uniq.size
        self.indices = (uniq % n_u).astype(np.int32)
        self.indptr = np.searchsorted(uniq // n_u, np.arange(n_u + 1)).astype(np.int32)
        self.base = np.bincount(inv[:n_y], weights=Yuu.data, minlength=self.nnz)
        self.slot_dev = inv[n_y:n_y + n_dev]
        self.slot_diag = inv[n_y + n_dev:]
        self.j_q, self.j_s = eq_[in_j], es_[in_j]
        self.f_row, self.f_col, self.f_q, self.f_s = ru[in_f], cf[in_f], eq_[in_f], es_[in_f]
        ir_, ii_, is_ = (np.concatenate(x) if x else np.zeros(0) for x in (ir, ii, isg))
        iru = upos[ir_.astype(np.int64)]
        keep = iru >= 0
        self.i_row, self.i_idx, self.i_s = iru[keep], ii_.astype(np.int64)[keep], is_[keep]

    # ------------------------------------------------------------------ devices
    def _terminal_voltages(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d, m = self.mna.diodes, self.mna.mosfets
        vd = x[d.a] - x[d.k] if self.nd else np.zeros(0)
        if self.nm:
            vgs = x[m.g] - x[m.s]
            vds = x[m.d] - x[m.s]
        else:
            vgs = vds = np.zeros(0)
        return vd, vgs, vds

    def _evaluate(self, vd, vgs, vds):
        """q (conductances), ieq (equivalent sources) and device currents at given voltages."""
        d, m = self.mna.diodes, self.mna.mosfets
        g = self.opts.gmin
        if self.nd and self.g_series is not None:
            cd, gd, self._vd_inner = series_diode_eval(vd, self.g_series, d.is_, d.vte, g, self._vd_inner)
        elif self.nd:
            cd, gd = diode_eval(vd, d.is_, d.vte, g)
        else:
            cd = gd = np.zeros(0)
        if self.nm:
            ids, dg, dd = mos1_eval(vgs, vds, m.beta, m.vto, m.lam)
        else:
            ids = dg = dd = np.zeros(0)
        q = np.concatenate([gd, dg, dd])
        ieq = np.concatenate([cd - gd * vd, ids - dg * vgs - dd * vds])
        return q, ieq, cd, ids

    def _limit(self, vd, vgs, vds, state):
        """SPICE limiting relative to the previous iteration's (limited) device voltages."""
        d, m = self.mna.diodes, self.mna.mosfets
        limited = False
        if self.nd and self.g_series is None:
            vd, lim = pnjlim(vd, state[0], d.vte, d.vcrit)
            limited = bool(lim.any())
        if self.nm:
            vgs_o, vds_o = state[1], state[2]
            vgd = vgs - vds
            fwd = vds_o >= 0
            vgs_f = fetlim(vgs, vgs_o, m.vto)
            vds_f = limvds(vgs_f - vgd, vds_o)
            vgd_r = fetlim(vgd, vgs_o - vds_o, m.vto)
            vds_r = -limvds(-(vgs - vgd_r), -vds_o)
            vgs_r = vgd_r + vds_r
            new_vgs = np.where(fwd, vgs_f, vgs_r)
            new_vds = np.where(fwd, vds_f, vds_r)
            # Count as limited only changes above the node tolerance (the swap arithmetic rounds).
            tol = self.opts.reltol * (np.abs(vgs) + np.abs(vds)) + self.opts.vntol
            limited = limited or bool(np.any(np.abs(new_vgs - vgs) + np.abs(new_vds - vds) > tol))
            vgs, vds = new_vgs, new_vds
        return vd, vgs, vds, limited

    # ------------------------------------------------------------------ linear algebra
    def _solve_linear(self, q, ieq, xf, shunt):
        data = self.base.copy()
        if self.j_q.size:
            data += np.bincount(self.slot_dev, weights=self.j_s * q[self.j_q], minlength=self.nnz)
        if shunt:
            data[self.slot_diag] += shunt
        J = sp.csc_matrix((data, self.indices, self.indptr), shape=(self.n_u, self.n_u))
        b = -(self.Yuf @ xf)
        if self.f_q.size:
            b -= np.bincount(self.f_row, weights=self.f_s * q[self.f_q] * xf[self.f_col], minlength=self.n_u)
        if self.i_idx.size:
            b += np.bincount(self.i_row, weights=self.i_s * ieq[self.i_idx], minlength=self.n_u)
        lu = splu(J, permc_spec="NATURAL", diag_pivot_thresh=0.1, options={"SymmetricMode": True})
        x = np.empty_like(b)
        x[self.p] = lu.solve(b[self.p])
        return x

    # ------------------------------------------------------------------ Newton
    def initial_state(self):
        d, m = self.mna.diodes, self.mna.mosfets
        if self.nd and self.g_series is not None:
            vd0 = np.zeros(self.nd)  # series elements start unbiased
            self._vd_inner = None
        else:
            vd0 = d.vcrit.copy() if self.nd else np.zeros(0)  # MODEINITJCT: diodes start at vcrit
        vgs0 = m.vto.copy() if self.nm else np.zeros(0)  # MOS: vgs = VTO, vds = 0
        vds0 = np.zeros(self.nm)
        return (vd0, vgs0, vds0)

    def _newton(self, xu, state, xf, shunt, first_from_state):
        """One Newton run; returns (xu, state, iterations) or raises _Failed."""
        o = self.opts
        mna = self.mna
        x = np.zeros(mna.n_nodes)
        x[mna.fixed] = xf
        for it in range(1, o.max_iter + 1):
            x[mna.unknown] = xu
            if first_from_state and it == 1:
                vd, vgs, vds = state
                limited = False
            else:
                vd, vgs, vds = self._terminal_voltages(x)
                vd, vgs, vds, limited = self._limit(vd, vgs, vds, state)
            q, ieq, cd, ids = self._evaluate(vd, vgs, vds)
            state = (vd, vgs, vds)
            xn = self._solve_linear(q, ieq, xf, shunt)
            if not np.all(np.isfinite(xn)):
                raise _Failed("non-finite solution")
            ok = it > 1 and not limited
            if ok:
                ok = bool(np.all(np.abs(xn - xu) <= o.reltol * np.maximum(np.abs(xn), np.abs(xu)) + o.vntol))
            if ok:
                x[mna.unknown] = xn
                vdn, vgsn, vdsn = self._terminal_voltages(x)
                if self.nd:
                    hat = cd + q[: self.nd] * (vdn - vd)
                    ok = bool(np.all(np.abs(hat - cd) <= o.reltol * np.maximum(np.abs(hat), np.abs(cd)) + o.abstol))
                if ok and self.nm:
                    nd, nm = self.nd, self.nm
                    hat = ids + q[nd:nd + nm] * (vgsn - vgs) + q[nd + nm:] * (vdsn - vds)
                    ok = bool(np.all(np.abs(hat - ids) <= o.reltol * np.maximum(np.abs(hat), np.abs(ids)) + o.abstol))
            xu = xn
            if ok:
                return xu, state, it
        raise _Failed(f"no convergence in {o.max_iter} iterations")

    def solve(self, xf: np.ndarray, warm=None) -> tuple[np.ndarray, tuple, int]:
        """Node voltages of the unknowns for fixed-node voltages ``xf``; warm = (xu, state)."""
        if warm is None:
            xu0, st0, from_state = np.zeros(self.n_u), self.initial_state(), True
        else:
            xu0, st0 = warm
            from_state = False
        try:
            return self._newton(xu0, st0, xf, 0.0, from_state)
        except _Failed as exc:
            log.info("native: plain Newton failed (%s); gmin stepping", exc)
        total = 0
        try:  # gmin stepping: a shunt on every node, reduced a decade at a time
            xu, st = np.zeros(self.n_u), self.initial_state()
            first = True
            for shunt in [10.0 ** -k for k in range(2, 13)] + [0.0]:
                xu, st, it = self._newton(xu, st, xf, shunt, first)
                first = False
                total += it
            return xu, st, total
        except _Failed as exc:
            log.info("native: gmin stepping failed (%s); source stepping", exc)
        # source stepping: ramp every fixed voltage from 0
        xu, st = np.zeros(self.n_u), self.initial_state()
        alpha, step, first = 0.0, 0.1, True
        while alpha < 1.0:
            target = min(1.0, alpha + step)
            try:
                xu_n, st_n, it = self._newton(xu, st, xf * target, 0.0, first)
            except _Failed:
                step /= 4.0
                if step < 1e-4:
                    raise
                continue
            first = False
            xu, st, alpha = xu_n, st_n, target
            total += it
            step = min(step * 2.0, 0.5)
        return xu, st, total

    # ------------------------------------------------------------------ outputs
    def leaving_currents(self, x: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Current flowing from each of ``nodes`` into the circuit, devices evaluated exactly at x."""
        out = self.mna.Y[nodes] @ x
        d, m = self.mna.diodes, self.mna.mosfets
        pos = {int(n): i for i, n in enumerate(nodes)}
        if not pos:
            return out
        node_arr = np.full(self.mna.n_nodes, -1, dtype=np.int64)
        node_arr[nodes] = np.arange(nodes.size)
        vd, vgs, vds = self._terminal_voltages(x)
        if self.nd:
            if self.g_series is not None:
                cd, _, _ = series_diode_eval(vd, self.g_series, d.is_, d.vte, self.opts.gmin, self._vd_inner)
            else:
                cd, _ = diode_eval(vd, d.is_, d.vte, self.opts.gmin)
            for term, sgn in ((d.a, 1.0), (d.k, -1.0)):
                hit = node_arr[term]
                mask = hit >= 0
                np.add.at(out, hit[mask], sgn * cd[mask])
        if self.nm:
            ids, _, _ = mos1_eval(vgs, vds, m.beta, m.vto, m.lam)
            for term, sgn in ((m.d, 1.0), (m.s, -1.0)):
                hit = node_arr[term]
                mask = hit >= 0
                np.add.at(out, hit[mask], sgn * ids[mask])
        return out

    def node_voltages(self, xf: np.ndarray, xu: np.ndarray) -> np.ndarray:
        """Voltages of every node of the full circuit (middle nodes of folded diode cells rebuilt)."""
        x = np.zeros(self.mna.n_nodes)
        x[self.mna.fixed] = xf
        x[self.mna.unknown] = xu
        if self.g_series is not None:
            d = self.mna.diodes
            _, _, vd = series_diode_eval(x[d.a] - x[d.k], self.g_series, d.is_, d.vte, self.opts.gmin, self._vd_inner)
            x[self.mid_nodes] = x[d.a] - vd
        return x
