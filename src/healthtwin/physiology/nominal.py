"""The papers' nominal UVA/Padova subject, in the type-1 form.

Rate constants are the normal-subject values of Dalla Man, Rizza & Cobelli (IEEE TBME
54:1740-1749, 2007, Table 1); the subcutaneous insulin constants (kd, ka1, ka2) are those
of Dalla Man, Raimondo, Rizza & Cobelli (JDST 1:323-330, 2007); the subcutaneous glucose
exchange ksc = 0.1/min is a 10-min sensor delay (Td = 10 min, same source) [1]_.

In the type-1 form there is no secretion and hepatic extraction is fixed at its basal
value (m3 = m30 = HEb m1 / (1 - HEb)). Following the S2008 simulator, the basal-dependent
constants are derived from the basal point so that the subject starts at steady state:

- Gpb = Gb Vg; Gtb = (Fsnc - EGPb + k1 Gpb) / k2
- Vm0 = (EGPb - Fsnc)(Km0 + Gtb) / Gtb; kp1 = EGPb + kp2 Gpb + kp3 Ib
- Ipb = Ib Vi; Ilb = m2 Ipb / (m1 + m30); u2ss = (m2 + m4) Ipb - m1 Ilb (pmol/kg/min)

The basal point is the 2007 normal database's: BW 78 kg, Gpb 178 mg/kg, Ib 25 pmol/L,
EGPb 1.88 mg/kg/min (which absorbs the portal-insulin term kp4 Ipo of the healthy model).
Carb ratio and correction factor follow the 500 and 1800 rules (Walsh & Roberts, *Pumping
Insulin*) with a total daily dose of twice the daily basal.

.. [1] Values were checked against several independent public implementations that cite
   these tables; see ``tests/data/README.md``.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from healthtwin.physiology.uva_padova import (
    PMOL_PER_U,
    UvaPadovaParameters,
    UvaPadovaPatient,
    steady_state,
)

__all__ = ["DALLA_MAN_2007_NORMAL", "nominal_patients", "subject_at_basal"]

#: Rate constants of Dalla Man et al. 2007 (Table 1, normal subjects) and the
#: subcutaneous modules; basal-dependent constants are derived by subject_at_basal.
DALLA_MAN_2007_NORMAL: dict[str, float] = {
    "Vg": 1.88,
    "k1": 0.065,
    "k2": 0.079,
    "Vi": 0.05,
    "m1": 0.190,
    "m2": 0.484,
    "m4": 0.194,
    "HEb": 0.6,
    "kmax": 0.0558,
    "kmin": 0.0080,
    "kabs": 0.057,
    "f": 0.90,
    "b": 0.82,
    "d": 0.010,
    "kp2": 0.0021,
    "kp3": 0.009,
    "ki": 0.0079,
    "Fsnc": 1.0,
    "Vmx": 0.047,
    "Km0": 225.59,
    "p2u": 0.0331,
    "ke1": 0.0005,
    "ke2": 339.0,
    "kd": 0.0164,
    "ka1": 0.0018,
    "ka2": 0.0182,
    "ksc": 0.1,
}


def subject_at_basal(
    constants: dict[str, float], *, BW: float, Gb: float, Ib: float, EGPb: float
) -> UvaPadovaParameters:
    """Parameters of a subject at steady state at the basal point (Gb, Ib, EGPb).

    Examples
    --------
    >>> p = subject_at_basal(DALLA_MAN_2007_NORMAL, BW=78, Gb=178 / 1.88, Ib=25, EGPb=1.88)
    >>> round(float(p.Vm0[0]), 2), round(float(p.kp1[0]), 3)
    (2.35, 2.479)
    """
    c = dict(constants)
    heb = c.pop("HEb")
    gpb = Gb * c["Vg"]
    gtb = (c["Fsnc"] - EGPb + c["k1"] * gpb) / c["k2"]
    m30 = heb * c["m1"] / (1.0 - heb)
    ipb = Ib * c["Vi"]
    ilb = c["m2"] * ipb / (c["m1"] + m30)
    return UvaPadovaParameters(
        **c,
        BW=BW,
        Gb=Gb,
        Ib=Ib,
        m30=m30,
        Vm0=(EGPb - c["Fsnc"]) * (c["Km0"] + gtb) / gtb,
        kp1=EGPb + c["kp2"] * gpb + c["kp3"] * Ib,
        u2ss=(c["m2"] + c["m4"]) * ipb - c["m1"] * ilb,
    )


@cache
def nominal_patients() -> dict[str, UvaPadovaPatient]:
    """The nominal subjects by name (``"nominal-adult"``)."""
    params = subject_at_basal(DALLA_MAN_2007_NORMAL, BW=78.0, Gb=178.0 / 1.88, Ib=25.0, EGPb=1.88)
    basal_u_per_day = float(np.asarray(params.u2ss)[0] * 78.0 / PMOL_PER_U * 1440.0)
    total_daily_u = 2.0 * basal_u_per_day
    adult = UvaPadovaPatient(
        name="nominal-adult",
        params=params,
        x0=steady_state(params)[0],
        carb_ratio_g_per_u=500.0 / total_daily_u,
        correction_factor_mg_dl_per_u=1800.0 / total_daily_u,
        total_daily_insulin_u=total_daily_u,
        source="Dalla Man et al. 2007 (TBME Table 1; JDST sc modules), T1D form",
    )
    return {adult.name: adult}
