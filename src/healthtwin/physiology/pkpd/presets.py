"""Published drug models with their covariate equations.

Each constant cites its paper. Schnider's and Minto's equations were checked against
several independent public implementations that cite the papers (the tables themselves
could not be opened here): python-anesthesia-simulator 1.0.0 ``pk_models.py``,
opentiva ``propofol.py``/``remifentanil.py``, and TCI simulators in the public code
index. The BIS effect of every preset is the Bouillon 2004 response surface
(:data:`~healthtwin.physiology.pkpd.pd.BOUILLON_2004_BIS`) for that drug alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, UnknownModelError
from healthtwin.physiology.pkpd.covariates import Covariates, james_lbm_kg, james_peak_weight_kg
from healthtwin.physiology.pkpd.parameters import PkPdParameters
from healthtwin.physiology.pkpd.pd import BOUILLON_2004_BIS

__all__ = [
    "PRESETS",
    "Preset",
    "marsh",
    "marsh_modified",
    "minto",
    "preset",
    "preset_names",
    "schnider",
]


def _require_positive(model: str, values: dict[str, FloatArray], cov: Covariates) -> None:
    for name, arr in values.items():
        bad = np.flatnonzero(~(np.asarray(arr) > 0))
        if bad.size:
            i = int(bad[0])
            age, weight, height, _ = cov.arrays()
            raise InvalidParameterError(
                f"{model}: {name} = {float(arr[i]):.4g} is not positive for member {i} (age "
                f"{age[i]:g} yr, weight {weight[i]:g} kg, height {height[i]:g} cm); these "
                "covariates lie outside the range where the model's equations hold"
            )


def _check_lbm_peak(model: str, cov: Covariates) -> None:
    _, weight, height, _ = cov.arrays()
    peak = james_peak_weight_kg(cov)
    over = np.flatnonzero(weight > peak)
    if over.size:
        i = int(over[0])
        raise InvalidParameterError(
            f"{model}: weight {weight[i]:g} kg is above {peak[i]:.1f} kg, where the James lean "
            f"body mass stops rising for height {height[i]:g} cm (member {i}); the model's LBM "
            "covariate is invalid there, so use a preset without LBM (pk-marsh)"
        )


def _bis(drug_c50: float) -> dict[str, float]:
    surface = BOUILLON_2004_BIS
    return {"e0": surface.e0, "emax": -surface.emax, "ec50": drug_c50, "gamma": surface.gamma}


def _from_clearances(
    v1: FloatArray,
    v2: FloatArray,
    v3: FloatArray,
    cl1: FloatArray,
    cl2: FloatArray,
    cl3: FloatArray,
    ke0: FloatArray | float,
    pd: dict[str, float],
) -> PkPdParameters:
    return PkPdParameters(
        v1_l=v1,
        k10=cl1 / v1,
        k12=cl2 / v1,
        k21=cl2 / v2,
        k13=cl3 / v1,
        k31=cl3 / v3,
        ke0=ke0,
        **pd,
    )


def schnider(cov: Covariates) -> PkPdParameters:
    """Propofol, Schnider et al. (Anesthesiology 88:1170-1182, 1998; 90:1502-1516, 1999).

    Examples
    --------
    >>> p = schnider(Covariates(age_yr=53, weight_kg=77, height_cm=177, sex="male"))
    >>> round(float(p.k10[0]), 4), round(float(p.k21[0]), 4), float(p.ke0[0])
    (0.4191, 0.0683, 0.456)
    """
    _check_lbm_peak("Schnider", cov)
    age, weight, height, _ = cov.arrays()
    lbm = james_lbm_kg(cov)
    n = age.size
    v1 = np.full(n, 4.27)  # L (Schnider 1998, final covariate model)
    v2 = 18.9 - 0.391 * (age - 53.0)  # L (Schnider 1998, final covariate model)
    v3 = np.full(n, 238.0)  # L (Schnider 1998, final covariate model)
    # L/min (Schnider 1998): weight, LBM and height enter the metabolic clearance.
    cl1 = 1.89 + 0.0456 * (weight - 77.0) - 0.0681 * (lbm - 59.0) + 0.0264 * (height - 177.0)
    cl2 = 1.29 - 0.024 * (age - 53.0)  # L/min (Schnider 1998, final covariate model)
    cl3 = np.full(n, 0.836)  # L/min (Schnider 1998, final covariate model)
    _require_positive("Schnider", {"V2": v2, "Cl1": cl1, "Cl2": cl2}, cov)
    # ke0 0.456/min (1999): a time to peak effect of 1.6 min after a bolus.
    return _from_clearances(
        v1, v2, v3, cl1, cl2, cl3, 0.456, _bis(BOUILLON_2004_BIS.c50_propofol_mg_l)
    )


def _marsh(cov: Covariates, ke0: float) -> PkPdParameters:
    _, weight, _, _ = cov.arrays()
    return PkPdParameters(
        v1_l=0.228 * weight,  # L/kg (Marsh et al., Br J Anaesth 67:41-48, 1991)
        k10=0.119,  # 1/min (Marsh 1991)
        k12=0.112,  # 1/min (Marsh 1991)
        k21=0.055,  # 1/min (Marsh 1991)
        k13=0.0419,  # 1/min (Marsh 1991; often rounded to 0.042)
        k31=0.0033,  # 1/min (Marsh 1991)
        ke0=ke0,
        **_bis(BOUILLON_2004_BIS.c50_propofol_mg_l),
    )


def marsh(cov: Covariates) -> PkPdParameters:
    """Propofol, Marsh et al. (Br J Anaesth 67:41-48, 1991), ke0 0.26/min (Diprifusor).

    Examples
    --------
    >>> p = marsh(Covariates(age_yr=40, weight_kg=70, height_cm=170, sex="male"))
    >>> round(float(p.v1_l[0]), 2)
    15.96
    """
    # ke0 0.26/min is the value programmed in the Diprifusor TCI pump, not in the 1991 paper.
    return _marsh(cov, 0.26)


def marsh_modified(cov: Covariates) -> PkPdParameters:
    """Propofol, Marsh kinetics with ke0 1.2/min (Struys et al., Anesthesiology 92:399, 2000)."""
    # Struys 2000 chose ke0 for a time to peak effect of 1.6 min: t1/2 ke0 = 34 s,
    # ke0 = ln 2 / (34/60) = 1.22/min, quoted as 1.2/min.
    return _marsh(cov, 1.2)


def minto(cov: Covariates) -> PkPdParameters:
    """Remifentanil, Minto et al. (Anesthesiology 86:10-23, 1997), complex model (age, LBM).

    Examples
    --------
    >>> p = minto(Covariates(age_yr=40, weight_kg=70, height_cm=170, sex="male"))
    >>> round(float(p.v1_l[0]), 3), round(float(p.ke0[0]), 3)
    (5.121, 0.595)
    """
    _check_lbm_peak("Minto", cov)
    age, _, _, _ = cov.arrays()
    lbm = james_lbm_kg(cov)
    n = age.size
    v1 = 5.1 - 0.0201 * (age - 40.0) + 0.072 * (lbm - 55.0)  # L (Minto 1997, complex model)
    v2 = 9.82 - 0.0811 * (age - 40.0) + 0.108 * (lbm - 55.0)  # L (Minto 1997, complex model)
    v3 = np.full(n, 5.42)  # L (Minto 1997, complex model)
    cl1 = 2.6 - 0.0162 * (age - 40.0) + 0.0191 * (lbm - 55.0)  # L/min (Minto 1997, complex model)
    cl2 = 2.05 - 0.0301 * (age - 40.0)  # L/min (Minto 1997, complex model)
    cl3 = 0.076 - 0.00113 * (age - 40.0)  # L/min (Minto 1997, complex model)
    ke0 = 0.595 - 0.007 * (age - 40.0)  # 1/min (Minto 1997, complex PD model, EEG)
    _require_positive(
        "Minto", {"V1": v1, "V2": v2, "Cl1": cl1, "Cl2": cl2, "Cl3": cl3, "ke0": ke0}, cov
    )
    return _from_clearances(
        v1, v2, v3, cl1, cl2, cl3, ke0, _bis(BOUILLON_2004_BIS.c50_remifentanil_ug_l)
    )


@dataclass(frozen=True)
class Preset:
    """A published drug model: its name, drug, dose unit, effect and covariate equations."""

    name: str
    drug: str
    dose_unit: str
    citation: str
    build: Callable[[Covariates], PkPdParameters]
    effect_name: str = "bis"
    effect_unit: str = "index (0-100)"


#: Preset name -> :class:`Preset` (propofol in mg, remifentanil in µg).
PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "schnider": Preset(
            "schnider",
            "propofol",
            "mg",
            "Schnider et al., Anesthesiology 1998;88:1170 and 1999;90:1502",
            schnider,
        ),
        "marsh": Preset(
            "marsh", "propofol", "mg", "Marsh et al., Br J Anaesth 1991;67:41 (ke0 0.26)", marsh
        ),
        "marsh-modified": Preset(
            "marsh-modified",
            "propofol",
            "mg",
            "Marsh et al. 1991 with ke0 1.2 (Struys et al., Anesthesiology 2000;92:399)",
            marsh_modified,
        ),
        "minto": Preset(
            "minto", "remifentanil", "ug", "Minto et al., Anesthesiology 1997;86:10", minto
        ),
    }
)


def preset_names() -> tuple[str, ...]:
    """Names of the drug presets."""
    return tuple(PRESETS)


def preset(name: str) -> Preset:
    """The preset called ``name``.

    Examples
    --------
    >>> preset("minto").dose_unit
    'ug'
    >>> preset("eleveld")
    Traceback (most recent call last):
    ...
    healthtwin.errors.UnknownModelError: unknown drug preset 'eleveld'; valid presets: ...
    """
    try:
        return PRESETS[name]
    except KeyError as err:
        raise UnknownModelError(
            f"unknown drug preset {name!r}; valid presets: {', '.join(PRESETS)}"
        ) from err
