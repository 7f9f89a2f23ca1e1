"""Damped Newton-Raphson for crossbars with diode or MOS1 cells, SPICE style.

Each iteration evaluates every device at its (limited) junction voltages, stamps the companion
model (conductances + equivalent current sources) into the sparse Jacobian of the unknown nodes
and solves for the next node voltages, as ngspice's ``NIiter`` does. Convergence needs, like
SPICE: no device limited in this iteration, every node voltage changed by at most
``reltol * max(|new|, |old|) + vntol``, and every device current predicted by its linearization
within ``reltol * max(|predicted|, |present|) + abstol``. When plain Newton fails, gmin stepping
(a shunt conductance on every node, reduced decade by decade) and then source stepping (inputs and
gates ramped from 0) are tried before a :class:`~xbarsim.errors.ConvergenceError`.

Vectors of a batch are solved in chunks of K at once (one block-diagonal sparse system per
iteration, so the per-call overhead is shared); each chunk starts from the previous chunk's last
solution, and a chunk that does not converge together is solved vector by vector.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .devices import diode_eval, fetlim, limvds, mos1_current, mos1_eval, pnjlim, series_diode_eval
from .mna import Diodes, Mna, Mosfets, partition_nodes
from .ordering import cached_perm_c

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
    if (
        mna.mosfets is not None
        and np.isin(k, np.concatenate([mna.mosfets.d, mna.mosfets.g, mna.mosfets.s])).any()
    ):
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
    C = sp.coo_matrix(
        (np.concatenate([g, g, -g, -g]), (np.concatenate([k, c, k, c]), np.concatenate([k, c, c, k]))),
        shape=(n, n),
    ).tocsr()
    Y_red = (Y - C).tocsr()
    Y_red.eliminate_zeros()
    fixed_vals = dict(zip(mna.fixed.tolist(), mna.fixed_const.tolist()))
    for node in k.tolist():
        fixed_vals[node] = 0.0  # disconnected placeholder; its voltage is rebuilt afterwards
    fixed = np.array(sorted(fixed_vals), dtype=np.int64)
    unknown, upos, fpos = partition_nodes(n, fixed)
    red = replace(
        mna,
        Y=Y_red,
        unknown=unknown,
        fixed=fixed,
        upos=upos,
        fpos=fpos,
        fixed_const=np.array([fixed_vals[int(f)] for f in fixed]),
        input_f=fpos[mna.topo.input_nodes],
        diodes=Diodes(a=d.a, k=c, is_=d.is_, vte=d.vte, vcrit=d.vcrit),
    )
    return red, g, k


class _Failed(Exception):
    """Newton did not converge; ``index`` is the row of the failing vector in its chunk."""

    index: int = 0


class NewtonSolver:
    """Precomputed stamping pattern of one circuit; :meth:`solve` runs one input vector."""

    def __init__(self, mna: Mna, opts: NewtonOptions, *, series: bool = True) -> None:
        self.full = mna
        if series:
            mna, self.g_series, self.mid_nodes = series_reduce(mna)
        else:
            self.g_series = self.mid_nodes = None
        self.mna = mna
        self.dio = mna.diodes if mna.diodes is not None else Diodes.empty()
        self.mos = mna.mosfets if mna.mosfets is not None else Mosfets.empty()
        self.opts = opts
        self._vd_inner: np.ndarray | None = None
        self._block_cache: tuple[int, np.ndarray, np.ndarray] | None = None
        n_u = mna.unknown.size
        self.n_u = n_u
        upos, fpos = mna.upos, mna.fpos
        Y = mna.Y
        Yu = Y[mna.unknown]
        self.Yuu = Yu[:, mna.unknown].tocsr()
        Yuu = self.Yuu.tocoo()
        self.Yuf = Yu[:, mna.fixed].tocsr()
        d, m = self.dio, self.mos
        self.nd, self.nm = d.a.size, m.d.size
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
        self._pattern = (all_r, all_c, n_y, n_dev, Yuu.data)
        self.layout_id = 0
        self._ordered = False
        self._lay_out(np.arange(n_u))
        self.j_q, self.j_s = eq_[in_j], es_[in_j]
        self.j_row, self.j_col = ru[in_j], cu[in_j]
        self.f_row, self.f_col, self.f_q, self.f_s = ru[in_f], cf[in_f], eq_[in_f], es_[in_f]
        ir_, ii_, is_ = (np.concatenate(x) if x else np.zeros(0) for x in (ir, ii, isg))
        iru = upos[ir_.astype(np.int64)]
        keep = iru >= 0
        self.i_row, self.i_idx, self.i_s = iru[keep], ii_.astype(np.int64)[keep], is_[keep]

    def _lay_out(self, new_of_old: np.ndarray) -> None:
        """Lay the Jacobian pattern out in CSC with unknown ``old`` at position ``new_of_old[old]``."""
        all_r, all_c, n_y, n_dev, ydata = self._pattern
        n_u = self.n_u
        self.p = np.argsort(new_of_old)  # p[new] = old
        keys = new_of_old[all_c] * n_u + new_of_old[all_r]
        uniq, inv = np.unique(keys, return_inverse=True)
        self.nnz = uniq.size
        self.indices = (uniq % n_u).astype(np.int32)
        self.indptr = np.searchsorted(uniq // n_u, np.arange(n_u + 1)).astype(np.int32)
        self.base = np.bincount(inv[:n_y], weights=ydata, minlength=self.nnz)
        self.slot_dev = inv[n_y : n_y + n_dev]
        self.slot_diag = inv[n_y + n_dev :]
        self._block_cache = None
        self.layout_id += 1

    def ensure_ordered(self) -> None:
        """Lay the Jacobian out in a fill-reducing order (minimum degree on A + A^T, found once).

        Deferred until a sparse LU of the Jacobian is first needed: the structured chord solve
        of a crossbar (:mod:`xbarsim.native.blocktri`) never needs it.
        """
        if self._ordered:
            return
        self._ordered = True
        all_r, all_c, _n_y, n_dev, ydata = self._pattern
        n_u = self.n_u
        trial = np.concatenate([np.abs(ydata), np.full(n_dev, 1e-3), np.full(n_u, 1e-12)])
        J0 = sp.csc_matrix((trial, (all_r, all_c)), shape=(n_u, n_u))
        new_of_old = cached_perm_c(
            J0,
            "newton",
            lambda: (
                splu(
                    J0, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
                ).perm_c
            ),
        )
        self._lay_out(np.asarray(new_of_old))

    # ------------------------------------------------------------------ devices
    # Every array below has one row per input vector of the block being solved, shape (K, ...).
    def _terminal_voltages(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d, m = self.dio, self.mos
        K = x.shape[0]
        vd = x[:, d.a] - x[:, d.k] if self.nd else np.zeros((K, 0))
        if self.nm:
            vgs = x[:, m.g] - x[:, m.s]
            vds = x[:, m.d] - x[:, m.s]
        else:
            vgs = vds = np.zeros((K, 0))
        return vd, vgs, vds

    def _series(
        self, V: np.ndarray, vd0: np.ndarray | None, cells: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Folded cells' current, conductance and junction voltage at cell voltages V (K, cells)."""
        d = self.dio
        K = V.shape[0]
        if vd0 is not None and vd0.size != V.size:
            vd0 = None
        assert self.g_series is not None
        sel = slice(None) if cells is None else cells
        cur, geq, vd = series_diode_eval(
            V.ravel(),
            np.tile(self.g_series[sel], K),
            np.tile(d.is_[sel], K),
            np.tile(d.vte[sel], K),
            self.opts.gmin,
            vd0,
        )
        return cur.reshape(V.shape), geq.reshape(V.shape), vd

    def _evaluate(self, vd, vgs, vds):
        """q (conductances), ieq (equivalent sources) and device currents at given voltages."""
        d, m = self.dio, self.mos
        g = self.opts.gmin
        K = vd.shape[0]
        if self.nd and self.g_series is not None:
            cd, gd, self._vd_inner = self._series(vd, self._vd_inner)
        elif self.nd:
            cd, gd = diode_eval(vd, d.is_, d.vte, g)
        else:
            cd = gd = np.zeros((K, 0))
        if self.nm:
            ids, dg, dd = mos1_eval(vgs, vds, m.beta, m.vto, m.lam)
        else:
            ids = dg = dd = np.zeros((K, 0))
        q = np.concatenate([gd, dg, dd], axis=1)
        ieq = np.concatenate([cd - gd * vd, ids - dg * vgs - dd * vds], axis=1)
        return q, ieq, cd, ids

    def device_currents(self, x: np.ndarray) -> np.ndarray:
        """(K, nd + nm) currents of the diodes (or folded diode cells) and transistors at x (K, n)."""
        d, m = self.dio, self.mos
        parts = []
        if self.nd:
            vd = x[:, d.a] - x[:, d.k]
            if self.g_series is not None:
                parts.append(self._series(vd, None)[0])
            else:
                parts.append(diode_eval(vd, d.is_, d.vte, self.opts.gmin)[0])
        if self.nm:
            vs = x[:, m.s]
            parts.append(mos1_current(x[:, m.g] - vs, x[:, m.d] - vs, m.beta, m.vto, m.lam))
        return np.concatenate(parts, axis=1) if parts else np.zeros((x.shape[0], 0))

    def _limit(self, vd, vgs, vds, state):
        """SPICE limiting relative to the previous iteration's (limited) device voltages."""
        d, m = self.dio, self.mos
        limited = np.zeros(vd.shape[0], dtype=bool)
        if self.nd and self.g_series is None:
            vd, lim = pnjlim(vd, state[0], d.vte, d.vcrit)
            limited |= lim.any(axis=1)
        if self.nm:
            vgs_o, vds_o = state[1], state[2]
            vgd = vgs - vds
            fwd = vds_o >= 0
            vto = np.broadcast_to(m.vto, vgs.shape)
            vgs_f = fetlim(vgs, vgs_o, vto)
            vds_f = limvds(vgs_f - vgd, vds_o)
            vgd_r = fetlim(vgd, vgs_o - vds_o, vto)
            vds_r = -limvds(-(vgs - vgd_r), -vds_o)
            vgs_r = vgd_r + vds_r
            new_vgs = np.where(fwd, vgs_f, vgs_r)
            new_vds = np.where(fwd, vds_f, vds_r)
            # Count as limited only changes above the node tolerance (the swap arithmetic rounds).
            tol = self.opts.reltol * (np.abs(vgs) + np.abs(vds)) + self.opts.vntol
            limited |= np.any(np.abs(new_vgs - vgs) + np.abs(new_vds - vds) > tol, axis=1)
            vgs, vds = new_vgs, new_vds
        return vd, vgs, vds, limited

    # ------------------------------------------------------------------ linear algebra
    def _block(self, K: int) -> tuple[np.ndarray, np.ndarray]:
        """CSC index arrays of K copies of the Jacobian pattern on the diagonal."""
        if self._block_cache is None or self._block_cache[0] != K:
            off_i = (np.arange(K) * self.n_u)[:, None]
            off_p = (np.arange(K) * self.nnz)[:, None]
            indices = (self.indices[None, :] + off_i).ravel().astype(np.int32)
            indptr = np.concatenate([(self.indptr[:-1][None, :] + off_p).ravel(), [K * self.nnz]]).astype(
                np.int32
            )
            self._block_cache = (K, indices, indptr)
        return self._block_cache[1], self._block_cache[2]

    def jacobian(self, q: np.ndarray, shunt: float = 0.0) -> sp.csc_matrix:
        """Block-diagonal Jacobian of K = len(q) vectors, unknowns in the fill-reducing order ``p``."""
        K, n_u, nnz = q.shape[0], self.n_u, self.nnz
        data = np.tile(self.base, K)
        if self.j_q.size:
            slots = (self.slot_dev[None, :] + (np.arange(K) * nnz)[:, None]).ravel()
            data += np.bincount(slots, weights=(self.j_s * q[:, self.j_q]).ravel(), minlength=K * nnz)
        if shunt:
            data[(self.slot_diag[None, :] + (np.arange(K) * nnz)[:, None]).ravel()] += shunt
        indices, indptr = self._block(K)
        return sp.csc_matrix((data, indices, indptr), shape=(K * n_u, K * n_u))

    def _solve_linear(self, q, ieq, xf, shunt):
        self.ensure_ordered()
        K, n_u = xf.shape[0], self.n_u
        J = self.jacobian(q, shunt)
        b = -(self.Yuf @ xf.T).T
        rows = (np.arange(K) * n_u)[:, None]
        if self.f_q.size:
            w = self.f_s * q[:, self.f_q] * xf[:, self.f_col]
            b -= np.bincount(
                (self.f_row[None, :] + rows).ravel(), weights=w.ravel(), minlength=K * n_u
            ).reshape(K, n_u)
        if self.i_idx.size:
            w = self.i_s * ieq[:, self.i_idx]
            b += np.bincount(
                (self.i_row[None, :] + rows).ravel(), weights=w.ravel(), minlength=K * n_u
            ).reshape(K, n_u)
        lu = splu(J, permc_spec="NATURAL", diag_pivot_thresh=0.1, options={"SymmetricMode": True})
        x = np.empty_like(b)
        x[:, self.p] = lu.solve(np.ascontiguousarray(b[:, self.p]).ravel()).reshape(K, n_u)
        return x

    # ------------------------------------------------------------------ Newton
    def initial_state(self, K: int = 1):
        d, m = self.dio, self.mos
        if self.nd and self.g_series is not None:
            vd0 = np.zeros((K, self.nd))  # series elements start unbiased
            self._vd_inner = None
        else:
            vd0 = np.tile(d.vcrit, (K, 1)) if self.nd else np.zeros((K, 0))  # MODEINITJCT: vcrit
        vgs0 = np.tile(m.vto, (K, 1)) if self.nm else np.zeros((K, 0))  # MOS: vgs = VTO, vds = 0
        vds0 = np.zeros((K, self.nm))
        return (vd0, vgs0, vds0)

    def _newton(self, xu, state, xf, shunt, first_from_state):
        """Newton on a block of K vectors at once; returns (xu, state, iterations) or raises _Failed."""
        o = self.opts
        mna = self.mna
        K = xf.shape[0]
        x = np.zeros((K, mna.n_nodes))
        x[:, mna.fixed] = xf
        done = np.zeros(K, dtype=bool)
        out_x = np.empty_like(xu)
        out_state = tuple(np.empty_like(a) for a in state)
        nd, nm = self.nd, self.nm
        for it in range(1, o.max_iter + 1):
            x[:, mna.unknown] = xu
            if first_from_state and it == 1:
                vd, vgs, vds = state
                limited = np.zeros(K, dtype=bool)
            else:
                vd, vgs, vds = self._terminal_voltages(x)
                vd, vgs, vds, limited = self._limit(vd, vgs, vds, state)
            q, ieq, cd, ids = self._evaluate(vd, vgs, vds)
            state = (vd, vgs, vds)
            xn = self._solve_linear(q, ieq, xf, shunt)
            if not np.all(np.isfinite(xn)):
                raise _Failed("non-finite solution")
            ok = ~limited if it > 1 else np.zeros(K, dtype=bool)
            ok &= np.all(np.abs(xn - xu) <= o.reltol * np.maximum(np.abs(xn), np.abs(xu)) + o.vntol, axis=1)
            if ok.any():
                x[:, mna.unknown] = xn
                vdn, vgsn, vdsn = self._terminal_voltages(x)
                if nd:
                    hat = cd + q[:, :nd] * (vdn - vd)
                    ok &= np.all(
                        np.abs(hat - cd) <= o.reltol * np.maximum(np.abs(hat), np.abs(cd)) + o.abstol, axis=1
                    )
                if nm:
                    hat = ids + q[:, nd : nd + nm] * (vgsn - vgs) + q[:, nd + nm :] * (vdsn - vds)
                    ok &= np.all(
                        np.abs(hat - ids) <= o.reltol * np.maximum(np.abs(hat), np.abs(ids)) + o.abstol,
                        axis=1,
                    )
            new = ok & ~done
            if new.any():
                out_x[new] = xn[new]
                for dst, src in zip(out_state, state):
                    dst[new] = src[new]
                done |= new
            xu = xn
            if done.all():
                return out_x, out_state, it
        raise _Failed(f"no convergence in {o.max_iter} iterations")

    def solve(self, xf: np.ndarray, warm=None) -> tuple[np.ndarray, tuple, int]:
        """Unknown-node voltages for one vector of fixed-node voltages ``xf`` (n_fixed,).

        ``warm = (xu, state)`` from a previous solution. Plain Newton first, then gmin stepping,
        then source stepping.
        """
        xf = xf[None, :]
        if warm is None:
            xu0, st0, from_state = np.zeros((1, self.n_u)), self.initial_state(1), True
        else:
            xu0, st0 = warm[0][None, :], tuple(a[None, :] for a in warm[1])
            from_state = False
        result = self._solve_block(xf, xu0, st0, from_state)
        xu, st, it = result
        return xu[0], tuple(a[0] for a in st), it

    def _solve_block(self, xf, xu0, st0, from_state):
        try:
            return self._newton(xu0, st0, xf, 0.0, from_state)
        except _Failed as exc:
            log.info("native: plain Newton failed (%s); gmin stepping", exc)
        total = 0
        try:  # gmin stepping: a shunt on every node, reduced a decade at a time
            xu, st = np.zeros_like(xu0), self.initial_state(xf.shape[0])
            first = True
            for shunt in [10.0**-k for k in range(2, 13)] + [0.0]:
                xu, st, it = self._newton(xu, st, xf, shunt, first)
                first = False
                total += it
            return xu, st, total
        except _Failed as exc:
            log.info("native: gmin stepping failed (%s); source stepping", exc)
        # source stepping: ramp every fixed voltage from 0
        xu, st = np.zeros_like(xu0), self.initial_state(xf.shape[0])
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

    def solve_chunk(self, xf: np.ndarray, warm=None) -> tuple[np.ndarray, tuple]:
        """Unknown-node voltages of K vectors ``xf`` (K, n_fixed) solved together.

        The K systems share one block-diagonal factorization per iteration (one SuperLU call and
        vectorized device evaluation for all of them), all starting from ``warm`` (a single
        solution). If the block does not converge, each vector is solved alone, with gmin and
        source stepping; a failure raises :class:`_Failed` with ``index`` set to its row.
        """
        K = xf.shape[0]
        if warm is None:
            xu0, st0, from_state = np.zeros((K, self.n_u)), self.initial_state(K), True
        else:
            xu0 = np.repeat(warm[0][None, :], K, axis=0)
            st0 = tuple(np.repeat(a[None, :], K, axis=0) for a in warm[1])
            from_state = False
        if K > 1:
            try:
                xu, st, _ = self._newton(xu0, st0, xf, 0.0, from_state)
                return xu, st
            except _Failed as exc:
                log.info("native: block of %d vectors did not converge together (%s); one by one", K, exc)
        xu = np.empty((K, self.n_u))
        st_rows = []
        prev = warm
        for k in range(K):
            self._vd_inner = None
            try:
                xk, sk, _ = self.solve(xf[k], prev)
            except _Failed as exc:
                exc.index = k
                raise
            xu[k] = xk
            st_rows.append(sk)
            prev = (xk, sk)
        self._vd_inner = None
        st = tuple(np.stack([r[i] for r in st_rows]) for i in range(3))
        return xu, st

    # ------------------------------------------------------------------ outputs
    def node_voltages(self, xf: np.ndarray, xu: np.ndarray) -> np.ndarray:
        """(K, n_nodes) voltages of every node (middle nodes of folded diode cells rebuilt)."""
        xf, xu = np.atleast_2d(xf), np.atleast_2d(xu)
        x = np.zeros((xf.shape[0], self.mna.n_nodes))
        x[:, self.mna.fixed] = xf
        x[:, self.mna.unknown] = xu
        if self.g_series is not None:
            d = self.dio
            _, _, vd = self._series(x[:, d.a] - x[:, d.k], self._vd_inner)
            x[:, self.mid_nodes] = x[:, d.a] - vd.reshape(xf.shape[0], -1)
        return x
