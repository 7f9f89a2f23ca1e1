"""What a nonlinear solve reports, read from the few node voltages it needs.

A crossbar's outputs (sense currents, source currents, watched nodes) touch a handful of nodes:
building every node voltage of every vector (a (K, n) array per block, then a sparse product over
all of it) cost more than the chord iteration itself at 128x128. :class:`Outputs` keeps only
those nodes and evaluates only the devices touching them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .devices import diode_eval, mos1_current
from .newton import NewtonSolver


class Outputs:
    """What a solve reports, read from the few node voltages it needs (not the whole circuit's).

    ``need`` are the nodes whose voltages are kept per vector: the given ``watch`` nodes, the
    ``leave`` nodes (whose leaving current is asked for), their neighbours through ``Y`` and the
    terminals of the devices touching them. With folded diode cells every node is kept (their
    middle nodes are rebuilt from the whole solution).
    """

    def __init__(self, nw: NewtonSolver, leave: list[np.ndarray], watch: list[np.ndarray]) -> None:
        self.nw = nw
        mna = nw.mna
        n = mna.n_nodes
        lv = np.unique(np.concatenate(leave + [np.zeros(0, np.int64)]))
        d, m = nw.dio, nw.mos
        hit = np.zeros(n, dtype=bool)
        hit[lv] = True
        dio = hit[d.a] | hit[d.k]
        mos = hit[m.d] | hit[m.s]
        parts = leave + watch + [mna.Y[lv].indices, d.a[dio], d.k[dio], m.d[mos], m.g[mos], m.s[mos]]
        # A watched middle node of a folded diode cell is rebuilt from its cell's two terminals.
        self.mid_of: dict[int, int] = {}
        if nw.g_series is not None and nw.mid_nodes is not None:
            cell_of = {int(node): k for k, node in enumerate(nw.mid_nodes)}
            for node in np.concatenate(watch + [np.zeros(0, np.int64)]).tolist():
                if node in cell_of:
                    self.mid_of[node] = cell_of[node]
            cells = np.array(sorted(self.mid_of.values()), dtype=np.int64)
            parts += [d.a[cells], d.k[cells]]
        need = np.unique(np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]))
        self.need = need
        self.pos = np.full(n, -1, dtype=np.int64)
        self.pos[need] = np.arange(need.size)
        u = mna.upos[need]
        self.is_u = u >= 0
        self.u_cols = u[self.is_u]  # unknown indices of the needed nodes
        self.f_cols = mna.fpos[need[~self.is_u]]
        self._rows: dict[bytes, tuple] = {}

    def values(self, xf: np.ndarray, xu_need: np.ndarray) -> np.ndarray:
        """(K, len(need)) voltages from the fixed nodes (K, n_fixed) and the unknowns at ``u_cols``."""
        xc = np.empty((xf.shape[0], self.need.size))
        xc[:, self.is_u] = xu_need
        xc[:, ~self.is_u] = xf[:, self.f_cols]
        if self.mid_of:  # folded middle nodes: anode minus the junction voltage
            d, nw = self.nw.dio, self.nw
            assert nw.g_series is not None
            mids = np.array(list(self.mid_of), dtype=np.int64)
            cells = np.array([self.mid_of[k] for k in mids.tolist()], dtype=np.int64)
            va = xc[:, self.pos[d.a[cells]]]
            V = va - xc[:, self.pos[d.k[cells]]]
            xc[:, self.pos[mids]] = va - nw._series(V, None, cells)[2].reshape(V.shape)
        return xc

    def at(self, xc: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        return xc[:, self.pos[nodes]]

    def leaving(self, xc: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """(K, len(nodes)) current from each node into the circuit (resistors and devices at xc)."""
        nw = self.nw
        key = nodes.tobytes()
        if key not in self._rows:
            Yn = nw.mna.Y[nodes].tocoo()
            Yc = sp.csr_matrix((Yn.data, (Yn.row, self.pos[Yn.col])), shape=(nodes.size, self.need.size))
            m = nw.mos
            node_arr = np.full(nw.mna.n_nodes, -1, dtype=np.int64)
            node_arr[nodes] = np.arange(nodes.size)
            mos = np.flatnonzero((node_arr[m.d] >= 0) | (node_arr[m.s] >= 0))
            dio = np.flatnonzero((node_arr[nw.dio.a] >= 0) | (node_arr[nw.dio.k] >= 0))
            self._rows[key] = (Yc, node_arr, mos, dio)
        Yc, node_arr, mos, dio = self._rows[key]
        out = np.asarray((Yc @ xc.T).T)
        p = self.pos
        if mos.size:
            m = nw.mos
            vs = xc[:, p[m.s[mos]]]
            ids = mos1_current(
                xc[:, p[m.g[mos]]] - vs, xc[:, p[m.d[mos]]] - vs, m.beta[mos], m.vto[mos], m.lam[mos]
            )
            _scatter(out, node_arr, m.d[mos], m.s[mos], ids)
        if dio.size:
            d = nw.dio
            vd = xc[:, p[d.a[dio]]] - xc[:, p[d.k[dio]]]
            if nw.g_series is not None:  # folded cells: the current of diode + series G
                cd = nw._series(vd, None, dio)[0]
            else:
                cd = diode_eval(vd, d.is_[dio], d.vte[dio], nw.opts.gmin)[0]
            _scatter(out, node_arr, d.a[dio], d.k[dio], cd)
        return out


def _scatter(
    out: np.ndarray, node_arr: np.ndarray, src: np.ndarray, dst: np.ndarray, cur: np.ndarray
) -> None:
    """Add device currents (K, devices) flowing src -> dst to ``out`` at the nodes that are asked for."""
    for term, sgn in ((src, 1.0), (dst, -1.0)):
        hit = node_arr[term]
        mask = np.flatnonzero(hit >= 0)
        np.add.at(out.T, hit[mask], sgn * cur[:, mask].T)
