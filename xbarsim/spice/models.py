"""SPICE model cards for the selector diode and the 1T1R access transistor, and the exact DC
equations ngspice 39 applies to them (so the native solver can reproduce ngspice to 1e-4).

The cards are pure functions of :class:`~xbarsim.circuit.DiodeModel` / :class:`~xbarsim.circuit.NmosModel`;
``models/xbarsim_diode.lib`` and ``models/xbarsim_nmos.lib`` hold the default cards (a test checks
they equal what these functions print).

Constants
---------
ngspice 39 uses CODATA 2014 constants (``src/include/ngspice/const.h``), not the 2019 SI ones:
``k = 1.38064852e-23 J/K``, ``q = 1.6021766208e-19 C``, ``T = 27 degC = 300.15 K``, hence
``vt = k T / q = 0.025864917007157463 V`` (:data:`VT`; measured: a diode probe run through
ngspice 39 gives this value to 15 digits). The decks pin ``TEMP = TNOM = 27 degC``, so no
temperature scaling of IS, VTO or KP happens (``tSatCur = IS``, ``tVto = VTO``, ``tKP = KP``).
``gmin`` is the ``.options gmin`` value, 1e-12 S unless the backend's ``options`` set it
(:data:`DEFAULT_GMIN`). No other conductance is added at the end of the operating point
(gmin stepping ends with ``diagGmin = gshunt = 0``).

Diode card (level 1)
--------------------
``.model NAME D(LEVEL=1 IS=<is_> N=<n> RS=0 CJO=0 TT=0 TNOM=27)`` — no BV (so no breakdown branch),
no IKF/IKR, no sidewall or tunnel currents, no series resistance (no internal node), no charge.
With ``vd`` = anode - cathode voltage, ``vte = N * vt``, ngspice's ``dioload.c`` gives the current
from anode to cathode::

    vd >= -3 vte :  i = IS * (exp(vd / vte) - 1) + gmin * vd
    vd <  -3 vte :  a = (3 vte / (vd * e))**3          (e = exp(1))
                    i = -IS * (1 + a) + gmin * vd

i.e. gmin is a conductance in parallel with the junction, and the reverse branch is the SPICE
cubic tail, not the Shockley law. :func:`diode_current` evaluates exactly this.

NMOS card (MOS level 1, Shichman-Hodges)
----------------------------------------
``.model NAME NMOS(LEVEL=1 VTO=<vto> KP=<kp> LAMBDA=<lambda_> GAMMA=0 PHI=0.6 IS=0 JS=0 RD=0 RS=0
LD=0 CBD=0 CBS=0 CJ=0 CJSW=0 CGSO=0 CGDO=0 CGBO=0 TNOM=27)``, instance ``M... d g s 0 NAME W=<w> L=<l>``
(bulk on ground). ``IS=0`` and ``JS=0`` make both bulk junctions carry no diode current; what
remains of them (``mos1load.c``) is gmin from drain to bulk and from source to bulk, i.e. a
conductance gmin from the drain to ground and one from the source to ground. With
``beta = KP * W / L`` (LD = 0), ``vds = vd - vs``::

    mode = +1 if vds >= 0 else -1            (source and drain swap when vds < 0)
    vgst = (vg - vs) - VTO  if mode > 0  else  (vg - vd) - VTO
    u    = mode * vds                        (>= 0)
    vgst <= 0     :  idrain = 0                                        (cutoff)
    vgst <= u     :  idrain = beta (1 + LAMBDA u) vgst**2 / 2           (saturation)
    otherwise     :  idrain = beta (1 + LAMBDA u) u (vgst - u / 2)      (linear)

    current into the drain terminal  = mode * idrain + gmin * vd
    current into the source terminal = -mode * idrain + gmin * vs
    gate current                     = 0

GAMMA = 0 removes the body effect (``von = VTO`` whatever vbs is). :func:`nmos_current` evaluates
exactly this. Newton limiting (``DEVfetlim``, ``DEVpnjlim``) changes the iterates, not the solution.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .._validate import check_name
from ..circuit import DiodeModel, NmosModel

#: Boltzmann constant and elementary charge as compiled into ngspice 39 (CODATA 2014).
NGSPICE_BOLTZMANN = 1.38064852e-23
NGSPICE_CHARGE = 1.6021766208e-19
#: Nominal temperature of every deck, kelvin (27 degC).
TEMPERATURE_K = 300.15
#: Thermal voltage ngspice uses at 27 degC, volts.
VT = NGSPICE_BOLTZMANN * TEMPERATURE_K / NGSPICE_CHARGE
#: ngspice's default ``.options gmin``, siemens.
DEFAULT_GMIN = 1e-12

#: Names of the default cards (the ``.lib`` files in ``models/`` use them).
DIODE_MODEL_NAME = "xbarsim_diode"
NMOS_MODEL_NAME = "xbarsim_nmos"

#: Folder of the committed default cards (top level of the source tree).
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def spice_number(x: float) -> str:
    """Shortest text that reads back as exactly ``x`` (Python's repr of the float).

    Never uses SPICE scale suffixes, so ``1e-3`` cannot be misread as milli-something.
    """
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"non-finite number {v!r} cannot go into a netlist")
    return repr(v)


def diode_card(model: DiodeModel, name: str = DIODE_MODEL_NAME) -> str:
    """The ``.model`` line of the selector diode (level-1 D, see the module docstring)."""
    check_name(name, "diode model name")
    return (
        f".model {name} D(LEVEL=1 IS={spice_number(model.is_)} N={spice_number(model.n)} "
        "RS=0 CJO=0 TT=0 TNOM=27)"
    )


def nmos_card(model: NmosModel, name: str = NMOS_MODEL_NAME) -> str:
    """The ``.model`` line of the access transistor (MOS level 1, see the module docstring)."""
    check_name(name, "NMOS model name")
    return (
        f".model {name} NMOS(LEVEL=1 VTO={spice_number(model.vto)} KP={spice_number(model.kp)} "
        f"LAMBDA={spice_number(model.lambda_)} GAMMA=0 PHI=0.6 IS=0 JS=0 RD=0 RS=0 LD=0 "
        "CBD=0 CBS=0 CJ=0 CJSW=0 CGSO=0 CGDO=0 CGBO=0 TNOM=27)"
    )


def nmos_geometry(model: NmosModel) -> str:
    """Instance parameters ``W=... L=...`` of every access transistor."""
    return f"W={spice_number(model.w)} L={spice_number(model.l)}"


_LIB_HEADER = (
    "* {what} for xbarsim, written for this project (MIT licence, like the project).\n"
    '* Regenerate: python -c "from xbarsim.spice.models import library_text; '
    "print(library_text('{kind}'), end='')\" > models/{file}\n"
    "* Equations ngspice applies to this card: see the docstring of xbarsim/spice/models.py.\n"
)


def library_text(kind: str) -> str:
    """Full text of ``models/xbarsim_diode.lib`` (``kind="diode"``) or ``xbarsim_nmos.lib`` (``"nmos"``)."""
    if kind == "diode":
        head = _LIB_HEADER.format(
            what="Default selector diode (level-1 D model)", kind=kind, file="xbarsim_diode.lib"
        )
        return head + diode_card(DiodeModel()) + "\n"
    if kind == "nmos":
        head = _LIB_HEADER.format(
            what="Default 1T1R access transistor (MOS level 1)", kind=kind, file="xbarsim_nmos.lib"
        )
        m = NmosModel()
        return head + f"* Instance geometry of the default: {nmos_geometry(m)}\n" + nmos_card(m) + "\n"
    raise ValueError(f"unknown model kind {kind!r}; choose 'diode' or 'nmos'")


def diode_current(vd: np.ndarray | float, model: DiodeModel, gmin: float = DEFAULT_GMIN) -> np.ndarray:
    """Anode-to-cathode current ngspice computes for the diode card at voltage ``vd`` (amperes)."""
    v = np.asarray(vd, dtype=np.float64)
    vte = model.n * VT
    fwd = v >= -3.0 * vte
    with np.errstate(over="ignore"):
        i_fwd = model.is_ * (np.exp(np.where(fwd, v, 0.0) / vte) - 1.0)
    safe_v = np.where(fwd, -1.0, v)
    a = (3.0 * vte / (safe_v * math.e)) ** 3
    i_rev = -model.is_ * (1.0 + a)
    return np.where(fwd, i_fwd, i_rev) + gmin * v


def nmos_current(
    vd: np.ndarray | float,
    vg: np.ndarray | float,
    vs: np.ndarray | float,
    model: NmosModel,
    gmin: float = DEFAULT_GMIN,
) -> tuple[np.ndarray, np.ndarray]:
    """Currents into the drain and into the source terminal (amperes), bulk at 0 V, as ngspice has them."""
    d = np.asarray(vd, dtype=np.float64)
    g = np.asarray(vg, dtype=np.float64)
    s = np.asarray(vs, dtype=np.float64)
    vds = d - s
    mode = np.where(vds >= 0.0, 1.0, -1.0)
    vgst = np.where(mode > 0, g - s, g - d) - model.vto
    u = mode * vds
    betap = model.beta * (1.0 + model.lambda_ * u)
    sat = betap * vgst * vgst * 0.5
    lin = betap * u * (vgst - 0.5 * u)
    idrain = np.where(vgst <= 0.0, 0.0, np.where(vgst <= u, sat, lin))
    return mode * idrain + gmin * d, -mode * idrain + gmin * s
