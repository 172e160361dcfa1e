"""The virtual patient of a case: nominal parameters and draws from their uncertainty.

A case's ``patient`` block gives demographics and responder parameters; a parameter
``<name>_cv`` states how much ``<name>`` varies between patients like this one (the
responder's :meth:`~healthtwin.education.responders.Responder.sample_parameters` draws
from it). Draw ``k`` uses its own random stream spawned from the seed, so patient ``k`` is
the same patient in every replay that asks for it (common random numbers: a learner's
pathway and the expert pathway are compared on the same patients).
"""

from __future__ import annotations

import numpy as np

from healthtwin.education.case import Case
from healthtwin.education.responders import make_responder
from healthtwin.errors import InvalidParameterError

__all__ = ["draw_patients", "patient_parameters"]


def patient_parameters(case: Case) -> dict[str, float]:
    """The nominal patient's responder parameters (body weight included as ``weight_kg``).

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> patient_parameters(load_case("hypoglycaemia"))["weight_kg"]
    68.0
    """
    return {"weight_kg": float(case.patient.weight_kg), **case.patient.parameters}


def draw_patients(case: Case, n: int, seed: int = 0) -> list[dict[str, float]]:
    """``n`` patients drawn from the case's parameter uncertainty.

    Parameters
    ----------
    case
        The case whose ``patient.parameters`` (and their ``_cv`` spreads) are drawn from.
    n
        Number of patients (>= 1).
    seed
        Seed of the draws; draw ``k`` depends only on ``seed`` and ``k``.

    Returns
    -------
    list of dict
        One parameter mapping per patient, ready for ``Session(case, parameters=...)``.

    Raises
    ------
    InvalidParameterError
        If ``n`` < 1.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> case = load_case("hyperglycaemia_dka")
    >>> a, b = draw_patients(case, 3, seed=1), draw_patients(case, 5, seed=1)
    >>> a == b[:3]
    True
    """
    if n < 1:
        raise InvalidParameterError(f"n must be >= 1 patient, got {n}")
    responder = make_responder(case.patient.model)
    nominal = patient_parameters(case)
    streams = np.random.SeedSequence(seed).spawn(n)
    return [responder.sample_parameters(nominal, np.random.default_rng(s)) for s in streams]
