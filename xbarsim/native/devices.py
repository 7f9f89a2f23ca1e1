"""Device equations exactly as ngspice 39 evaluates the cards of :mod:`xbarsim.spice.models`.

Vectorized over all devices of a circuit. Each evaluator returns the current and its partial
derivatives, which Newton stamps as a companion model (conductances plus a current source).
Limiting functions follow ngspice's ``devsup.c`` (``DEVpnjlim``, ``DEVfetlim``, ``DEVlimvds``): they
change the Newton iterates, never the solution.
"""

from __future__ import annotations

import math

import numpy as np

from ..spice.models import VT

_E = math.e


def diode_eval(
    vd: np.ndarray, is_: np.ndarray, vte: np.ndarray, gmin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Anode-to-cathode current and conductance of the level-1 diode (``dioload.c``, no BV, RS=0).

    Forward (``vd >= -3 vte``) the Shockley law, reverse SPICE's cubic tail; ``gmin`` in parallel.
    """
    fwd = vd >= -3.0 * vte
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        evd = np.exp(np.where(fwd, vd, 0.0) / vte)
        vr = np.where(fwd, -1.0, vd)
        a = (3.0 * vte / (vr * _E)) ** 3
    cd = np.where(fwd, is_ * (evd - 1.0), -is_ * (1.0 + a))
    gd = np.where(fwd, is_ * evd / vte, is_ * 3.0 * a / vr)
    return cd + gmin * vd, gd + gmin


def diode_vcrit(is_: np.ndarray, vte: np.ndarray) -> np.ndarray:
    """SPICE's critical voltage ``vte * ln(vte / (sqrt(2) IS))`` above which limiting starts."""
    return vte * np.log(vte / (math.sqrt(2.0) * is_))


def pnjlim(
    vnew: np.ndarray, vold: np.ndarray, vt: np.ndarray, vcrit: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``DEVpnjlim``: limited junction voltages and a mask of the devices that were limited."""
    big = (vnew > vcrit) & (np.abs(vnew - vold) > 2.0 * vt)
    with np.errstate(divide="ignore", invalid="ignore"):
        arg = (vnew - vold) / vt
        up = vold + vt * (2.0 + np.log(np.maximum(arg - 2.0, 1e-300)))
        down = vold - vt * (2.0 + np.log(np.maximum(2.0 - arg, 1e-300)))
        fresh = vt * np.log(np.maximum(vnew / vt, 1e-300))
    lim_big = np.where(vold > 0, np.where(arg > 0, up, down), fresh)
    neg_floor = np.where(vold > 0, -vold - 1.0, 2.0 * vold - 1.0)
    neg = ~big & (vnew < 0) & (vnew < neg_floor)
    out = np.where(big, lim_big, np.where(neg, neg_floor, vnew))
    return out, big | neg


def fetlim(vnew: np.ndarray, vold: np.ndarray, vto: np.ndarray) -> np.ndarray:
    """``DEVfetlim``: limit the per-iteration change of a gate-source voltage."""
    vtsthi = np.abs(2.0 * (vold - vto)) + 2.0
    vtstlo = np.abs(vold - vto) + 1.0
    vtox = vto + 3.5
    delv = vnew - vold
    out = vnew.copy()
    on = vold >= vto
    high = on & (vold >= vtox)
    # fully on, going off
    m = high & (delv <= 0) & (vnew >= vtox) & (-delv > vtstlo)
    out[m] = (vold - vtstlo)[m]
    m = high & (delv <= 0) & (vnew < vtox)
    out[m] = np.maximum(vnew, vto + 2.0)[m]
    m = high & (delv > 0) & (delv >= vtsthi)
    out[m] = (vold + vtsthi)[m]
    mid = on & ~high
    m = mid & (delv <= 0)
    out[m] = np.maximum(vnew, vto - 0.5)[m]
    m = mid & (delv > 0)
    out[m] = np.minimum(vnew, vto + 4.0)[m]
    off = ~on
    m = off & (delv <= 0) & (-delv > vtsthi)
    out[m] = (vold - vtsthi)[m]
    vtemp = vto + 0.5
    m = off & (delv > 0) & (vnew <= vtemp) & (delv > vtstlo)
    out[m] = (vold + vtstlo)[m]
    m = off & (delv > 0) & (vnew > vtemp)
    out[m] = vtemp[m] if np.ndim(vtemp) else vtemp
    return out


def limvds(vnew: np.ndarray, vold: np.ndarray) -> np.ndarray:
    """``DEVlimvds``: limit the per-iteration change of a drain-source voltage."""
    hi = vold >= 3.5
    up = vnew > vold
    out = np.where(
        hi,
        np.where(up, np.minimum(vnew, 3.0 * vold + 2.0), np.where(vnew < 3.5, np.maximum(vnew, 2.0), vnew)),
        np.where(up, np.minimum(vnew, 4.0), np.maximum(vnew, -0.5)),
    )
    return out


def mos1_eval(
    vgs: np.ndarray, vds: np.ndarray, beta: np.ndarray, vto: np.ndarray, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channel current drain->source of MOS1 (GAMMA = 0) and its derivatives d/dvgs, d/dvds.

    Drain and source swap when ``vds < 0`` (``mos1load.c``); the returned current keeps the sign
    of the original orientation. The bulk junctions (IS = JS = 0: only gmin to ground) are linear
    and stamped with the resistors, not here.
    """
    fwd = vds >= 0.0
    vgd = vgs - vds
    u = np.abs(vds)
    vgst = np.where(fwd, vgs, vgd) - vto
    betap = beta * (1.0 + lam * u)
    on = vgst > 0.0
    sat = on & (vgst <= u)
    lin = on & ~sat
    cdrain = np.where(sat, 0.5 * betap * vgst * vgst, np.where(lin, betap * u * (vgst - 0.5 * u), 0.0))
    gm = np.where(sat, betap * vgst, np.where(lin, betap * u, 0.0))
    gds = np.where(
        sat,
        0.5 * lam * beta * vgst * vgst,
        np.where(lin, betap * (vgst - u) + lam * beta * u * (vgst - 0.5 * u), 0.0),
    )
    # Normal mode: I = f(vgs, vds); dI/dvgs = gm, dI/dvds = gds.
    # Reverse mode: I = -f(vgd, -vds) with vgd = vgs - vds: dI/dvgs = -gm, dI/dvds = gm + gds.
    ids = np.where(fwd, cdrain, -cdrain)
    d_vgs = np.where(fwd, gm, -gm)
    d_vds = np.where(fwd, gds, gm + gds)
    return ids, d_vgs, d_vds


def mos1_current(
    vgs: np.ndarray, vds: np.ndarray, beta: np.ndarray, vto: np.ndarray, lam: np.ndarray
) -> np.ndarray:
    """The current of :func:`mos1_eval` alone (same expressions, no derivatives).

    The chord iteration needs only the residual, and this is about half the work.
    """
    u = np.abs(vds)
    vgst = np.where(vds >= 0.0, vgs, vgs - vds) - vto
    betap = beta * (1.0 + lam * u)
    cdrain = np.where(vgst <= u, 0.5 * betap * vgst * vgst, betap * u * (vgst - 0.5 * u))
    cdrain[vgst <= 0.0] = 0.0
    return np.where(vds >= 0.0, cdrain, -cdrain)


def series_diode_eval(
    V: np.ndarray, G: np.ndarray, is_: np.ndarray, vte: np.ndarray, gmin: float, vd0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diode (with its gmin) in series with conductance G, driven by V: current, dI/dV, diode voltage.

    Solves ``Id(vd) = G (V - vd)`` per cell by Newton safeguarded with bisection. The root lies
    between 0 and V, and below ``vte ln(1 + G V / IS)`` (the diode cannot carry more than G V),
    which keeps the exponential in range and starts Newton next to the root.
    """
    lo = np.minimum(V, 0.0)
    hi = np.maximum(V, 0.0)
    with np.errstate(invalid="ignore"):
        cap = vte * np.log1p(G * np.maximum(V, 0.0) / is_)
    hi = np.where(V > 0, np.minimum(hi, cap), hi)
    vd = hi.copy() if vd0 is None else np.clip(vd0, lo, hi)
    act = np.arange(vd.size)  # cells still iterating
    for _ in range(200):
        v, a, b, g = vd[act], lo[act], hi[act], G[act]
        cd, gd = diode_eval(v, is_[act], vte[act], gmin)
        f = cd - g * (V[act] - v)
        b = np.where(f > 0, v, b)
        a = np.where(f < 0, v, a)
        new = v - f / (gd + g)
        new = np.where((new >= a) & (new <= b), new, 0.5 * (a + b))
        vd[act], lo[act], hi[act] = new, a, b
        # 1e-13 V on the junction is ~4e-12 relative in its current: far below any tolerance.
        busy = (np.abs(new - v) > 1e-13) & (b - a > 1e-13)
        if not busy.any():
            break
        act = act[busy]
    cd, gd = diode_eval(vd, is_, vte, gmin)
    current = G * (V - vd)
    return current, G * gd / (G + gd), vd


__all__ = [
    "VT",
    "diode_eval",
    "diode_vcrit",
    "fetlim",
    "limvds",
    "mos1_current",
    "mos1_eval",
    "pnjlim",
    "series_diode_eval",
]
