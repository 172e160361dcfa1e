"""Doses as a learner types them: in their own units and number format, checked.

A learner types a dose in the units and number format of their locale (``"2,5"`` mmol/L
in German, ``"2.5"`` in English, or a plain number); :func:`canonical_dose` reads it with
the learner's :class:`~healthtwin.education.i18n.Localizer`, converts it to the action's
canonical unit and checks it against the action's allowed range. A move the learner cannot
make is a :class:`~healthtwin.education.learner_errors.LearnerError` whose message is
rendered in the learner's language, units and number format. :func:`typed_number` is the
reverse: a value as the learner would type it (the default a form offers).
"""

from __future__ import annotations

from healthtwin.education.case import Case
from healthtwin.education.i18n import Localizer
from healthtwin.education.learner_errors import ERR_DOSE_OUT_OF_RANGE, ERR_NO_DOSE, LearnerError
from healthtwin.education.record import Quantity

__all__ = ["canonical_dose", "typed_number"]

#: Slack of the range check, for values converted back and forth between units.
_TOLERANCE = 1e-9


def canonical_dose(
    loc: Localizer, case: Case, action_id: str, dose: float | str | None
) -> float | None:
    """The dose a learner typed, in the action's canonical unit, checked against its range.

    Parameters
    ----------
    loc
        The learner's localizer: units and number format of their locale.
    case
        The case whose action is taken.
    action_id
        The action's id. An unknown action passes (``None``): the engine refuses it,
        listing the actions available.
    dose
        What the learner gave: a number in their units, text in their number format
        (``"1,5"`` in German), or ``None`` for an action without a dose.

    Returns
    -------
    float or None
        The dose in the action's canonical unit (clipped onto its range, against rounding),
        or ``None`` when the action takes none or is unknown.

    Raises
    ------
    LearnerError
        ``ERR_NO_DOSE`` if a dose is given for an action that takes none;
        ``ERR_DOSE_OUT_OF_RANGE`` if the dose is outside the allowed range; a number typed
        the wrong way for the locale is refused by
        :meth:`~healthtwin.education.i18n.Localizer.parse_number`.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> case = load_case("hypoglycaemia")
    >>> canonical_dose(Localizer("de"), case, "give_dextrose_iv", "12,5")
    12.5
    >>> canonical_dose(Localizer("en"), case, "give_dextrose_iv", "12.5")
    12.5
    >>> canonical_dose(Localizer("en"), case, "give_dextrose_iv", 40)
    Traceback (most recent call last):
    ...
    healthtwin.education.learner_errors.LearnerError: dose 40 g for 'give_dextrose_iv' ...
    """
    spec = next((a for a in case.actions if a.id == action_id), None)
    if spec is None or dose is None or spec.dose is None:
        if spec is not None and dose is not None:
            raise LearnerError(
                ERR_NO_DOSE,
                {"action": spec.label, "action_id": spec.id, "dose": str(dose)},
                english=f"action {spec.id!r} takes no dose; got {dose!r}",
            )
        return None
    d = spec.dose
    typed = loc.parse_number(dose) if isinstance(dose, str) else float(dose)
    canonical = loc.to_canonical(typed, d.unit)
    if not d.min - _TOLERANCE <= canonical <= d.max + _TOLERANCE:
        raise LearnerError(
            ERR_DOSE_OUT_OF_RANGE,
            {
                "dose": Quantity(canonical, d.unit),
                "action": spec.label,
                "action_id": spec.id,
                "low": Quantity(d.min, d.unit),
                "high": Quantity(d.max, d.unit),
            },
            english=(
                f"dose {canonical:g} {d.unit} for {spec.id!r} is outside the allowed range "
                f"{d.min:g}-{d.max:g} {d.unit}; give a dose in that range"
            ),
        )
    return min(max(canonical, d.min), d.max)


def typed_number(loc: Localizer, x: float) -> str:
    """``x`` as a learner would type it in their locale (no grouping, few decimals).

    Examples
    --------
    >>> typed_number(Localizer("de"), 2.5), typed_number(Localizer("en"), 2.5)
    ('2,5', '2.5')
    >>> typed_number(Localizer("fr"), 1500.0)
    '1500'
    """
    digits = next((k for k in (0, 1, 2) if abs(round(x, k) - x) < 1e-9), 3)
    return loc.number(x, digits).replace("\u202f", "").replace("\u00a0", "")
