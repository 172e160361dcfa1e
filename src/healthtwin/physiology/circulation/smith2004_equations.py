"""Equations of the Smith et al. (2004) model, written once for scalars and for rows.

Every function uses only arithmetic, ``np.exp``, ``np.maximum`` and ``np.minimum``, so the
same source runs on one member's scalars (compiled by numba in the beat kernel) and on
rows of ``(k, n)`` arrays, vectorized over ``n`` members (``c[I_R_SYS]`` is then a row).

With ``e(t) = exp(-B (t - C)^2)`` on the time ``t`` since the beat began, a free wall of
volume ``V`` has pressure ``P = e E_es (V - V_d) + (1 - e) P_0 (exp(lambda (V - V_0)) - 1)``.
The septum deflects by ``V_spt``: ``V_lvf = V_lv - V_spt``, ``V_rvf = V_rv + V_spt``, and
``V_spt`` solves the implicit balance (Smith et al. 2004, eq. 7)
``P_spt(V_spt) = P_lvf(V_lv - V_spt) - P_rvf(V_rv + V_spt)``, here by Newton's method
(the residual is strictly increasing in ``V_spt``, so the root is unique). The pericardium
adds ``P_peri = P_0,pcd (exp(lambda_pcd (V_lv + V_rv - V_0,pcd)) - 1) + P_th`` to both
ventricles. Valves open on pressure and close on flow: ``L dQ/dt = dP - R Q`` while
``dP > 0`` or ``Q > 0``, else the flow stays at zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from healthtwin.physiology.circulation.smith2004_parameters import SmithParameters

__all__ = [
    "P",
    "X",
    "derivatives",
    "driver",
    "free_wall",
    "pressures",
    "septum_residual",
    "septum_volume",
]

#: Parameter name -> column of the parameter matrix (row of ``c``).
P = {name: i for i, name in enumerate(SmithParameters.names())}
#: State name -> index: six volumes (mL), four valve flows (mL/s), septum volume (mL).
X = {
    name: i
    for i, name in enumerate(
        ("V_lv", "V_ao", "V_vc", "V_rv", "V_pa", "V_pu", "Q_mt", "Q_av", "Q_tc", "Q_pv", "V_spt")
    )
}

(I_E_LVF, I_VD_LVF, I_V0_LVF, I_LAM_LVF, I_P0_LVF) = (
    P[k] for k in ("E_es_lvf", "V_d_lvf", "V_0_lvf", "lambda_lvf", "P_0_lvf")
)
(I_E_RVF, I_VD_RVF, I_V0_RVF, I_LAM_RVF, I_P0_RVF) = (
    P[k] for k in ("E_es_rvf", "V_d_rvf", "V_0_rvf", "lambda_rvf", "P_0_rvf")
)
(I_E_SPT, I_VD_SPT, I_V0_SPT, I_LAM_SPT, I_P0_SPT) = (
    P[k] for k in ("E_es_spt", "V_d_spt", "V_0_spt", "lambda_spt", "P_0_spt")
)
I_V0_PCD, I_LAM_PCD, I_P0_PCD = P["V_0_pcd"], P["lambda_pcd"], P["P_0_pcd"]
I_E_AO, I_VD_AO, I_E_VC, I_VD_VC = P["E_es_ao"], P["V_d_ao"], P["E_es_vc"], P["V_d_vc"]
I_E_PA, I_VD_PA, I_E_PU, I_VD_PU = P["E_es_pa"], P["V_d_pa"], P["E_es_pu"], P["V_d_pu"]
I_R_MT, I_L_MT, I_R_AV, I_L_AV = P["R_mt"], P["L_mt"], P["R_av"], P["L_av"]
I_R_TC, I_L_TC, I_R_PV, I_L_PV = P["R_tc"], P["L_tc"], P["R_pv"], P["L_pv"]
I_R_PUL, I_R_SYS, I_P_TH = P["R_pul"], P["R_sys"], P["P_th"]
I_HR, I_B, I_CFRAC, I_VOL = (
    P["heart_rate_bpm"],
    P["driver_b_per_s2"],
    P["driver_c_fraction"],
    P["stressed_volume_ml"],
)

#: Largest Newton step on the septum volume (mL); keeps exp() finite from a poor guess.
SEPTUM_MAX_STEP_ML = 20.0


def driver(t_s: Any, c: Any) -> Any:
    """Elastance driver ``e = exp(-B (t - C)^2)``, ``C = c_fraction * 60 / HR`` (0..1)."""
    centre = c[I_CFRAC] * 60.0 / c[I_HR]
    return np.exp(-c[I_B] * (t_s - centre) ** 2)


def free_wall(v: Any, e: Any, es: Any, vd: Any, v0: Any, lam: Any, p0: Any) -> tuple[Any, Any]:
    """Pressure (mmHg) and its volume derivative (mmHg/mL) of a driven free wall.

    Examples
    --------
    >>> p, dp = free_wall(100.0, 1.0, 2.0, 10.0, 0.0, 0.03, 0.1)
    >>> float(p), float(dp)
    (180.0, 2.0)
    """
    grow = p0 * np.exp(lam * (v - v0))
    return e * es * (v - vd) + (1.0 - e) * (grow - p0), e * es + (1.0 - e) * lam * grow


def septum_volume(v_lv: Any, v_rv: Any, e: Any, c: Any, guess: Any, iterations: int) -> Any:
    """Septum volume (mL) solving the septal pressure balance by ``iterations`` Newton steps.

    Examples
    --------
    >>> from healthtwin.physiology.circulation.smith2004_parameters import (
    ...     smith_nominal_parameters)
    >>> c = smith_nominal_parameters().to_matrix()[0]
    >>> v = septum_volume(120.0, 100.0, 0.0, c, 0.0, 30)
    >>> bool(abs(septum_residual(120.0, 100.0, 0.0, c, v)[0]) < 1e-9)
    True
    """
    s = guess
    for _ in range(iterations):
        g, dg = septum_residual(v_lv, v_rv, e, c, s)
        step = np.minimum(np.maximum(g / dg, -SEPTUM_MAX_STEP_ML), SEPTUM_MAX_STEP_ML)
        s = s - step
    return s


def septum_residual(v_lv: Any, v_rv: Any, e: Any, c: Any, s: Any) -> tuple[Any, Any]:
    """``P_spt(s) - (P_lvf - P_rvf)`` and its derivative in ``s`` (> 0)."""
    p_spt, d_spt = free_wall(s, e, c[I_E_SPT], c[I_VD_SPT], c[I_V0_SPT], c[I_LAM_SPT], c[I_P0_SPT])
    p_lvf, d_lvf = free_wall(
        v_lv - s, e, c[I_E_LVF], c[I_VD_LVF], c[I_V0_LVF], c[I_LAM_LVF], c[I_P0_LVF]
    )
    p_rvf, d_rvf = free_wall(
        v_rv + s, e, c[I_E_RVF], c[I_VD_RVF], c[I_V0_RVF], c[I_LAM_RVF], c[I_P0_RVF]
    )
    return p_spt - p_lvf + p_rvf, d_spt + d_lvf + d_rvf


def pressures(x: Any, e: Any, v_spt: Any, c: Any) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Pressures (mmHg) of LV, aorta, vena cava, RV, pulmonary artery and vein."""
    v_lv, v_rv = x[0], x[3]
    p_lvf, _ = free_wall(
        v_lv - v_spt, e, c[I_E_LVF], c[I_VD_LVF], c[I_V0_LVF], c[I_LAM_LVF], c[I_P0_LVF]
    )
    p_rvf, _ = free_wall(
        v_rv + v_spt, e, c[I_E_RVF], c[I_VD_RVF], c[I_V0_RVF], c[I_LAM_RVF], c[I_P0_RVF]
    )
    p_peri = c[I_P0_PCD] * (np.exp(c[I_LAM_PCD] * (v_lv + v_rv - c[I_V0_PCD])) - 1.0)
    p_peri = p_peri + c[I_P_TH]
    p_ao = c[I_E_AO] * (x[1] - c[I_VD_AO])
    p_vc = c[I_E_VC] * (x[2] - c[I_VD_VC])
    p_pa = c[I_E_PA] * (x[4] - c[I_VD_PA]) + c[I_P_TH]
    p_pu = c[I_E_PU] * (x[5] - c[I_VD_PU]) + c[I_P_TH]
    return p_lvf + p_peri, p_ao, p_vc, p_rvf + p_peri, p_pa, p_pu


def _valve(dp: Any, q: Any, r: Any, inertance: Any) -> Any:
    """``dQ/dt`` of a valve that opens on pressure and closes on flow."""
    is_open = (dp > 0.0) | (q > 0.0)
    return is_open * (dp - r * q) / inertance


def derivatives(x: Any, e: Any, v_spt: Any, c: Any, venous_inflow: Any, out: Any) -> None:
    """Write ``d/dt`` of the 10 dynamic states plus two beat integrals into ``out``.

    ``out[:10]`` follow :data:`X`; ``out[10]`` is the aortic pressure (for its time
    integral) and ``out[11]`` the forward aortic-valve flow (for the stroke volume).
    ``venous_inflow`` (mL/s) enters the vena cava. The volume derivatives sum to
    ``venous_inflow`` exactly, so total blood volume is conserved.
    """
    p_lv, p_ao, p_vc, p_rv, p_pa, p_pu = pressures(x, e, v_spt, c)
    q_mt, q_av = np.maximum(x[6], 0.0), np.maximum(x[7], 0.0)
    q_tc, q_pv = np.maximum(x[8], 0.0), np.maximum(x[9], 0.0)
    q_sys = (p_ao - p_vc) / c[I_R_SYS]
    q_pul = (p_pa - p_pu) / c[I_R_PUL]
    out[0] = q_mt - q_av
    out[1] = q_av - q_sys
    out[2] = q_sys - q_tc + venous_inflow
    out[3] = q_tc - q_pv
    out[4] = q_pv - q_pul
    out[5] = q_pul - q_mt
    out[6] = _valve(p_pu - p_lv, x[6], c[I_R_MT], c[I_L_MT])
    out[7] = _valve(p_lv - p_ao, x[7], c[I_R_AV], c[I_L_AV])
    out[8] = _valve(p_vc - p_rv, x[8], c[I_R_TC], c[I_L_TC])
    out[9] = _valve(p_rv - p_pa, x[9], c[I_R_PV], c[I_L_PV])
    out[10] = p_ao
    out[11] = q_av
