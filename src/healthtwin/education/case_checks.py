"""Cross-checks of a training case, run after its fields are validated.

Each check yields ``(location, message)`` pairs, the location a field path inside the case
(``("rubric", "required", 2, "info")``) so that :func:`~healthtwin.education.case.parse_case`
can name the YAML line of every problem:

- ids: action and information ids are unique, and the rubric, the expert pathway and the
  information items' ``requires`` name existing ids;
- doses: an expert dose lies inside its action's range, an action without a dose gets
  none, and no expert step comes after the case's end;
- measures: every measure the monitor, information, narrative and rubric name is reported
  by the case's responder;
- dry run: the responder accepts the initial state, every action's effect (at its default
  dose) and every timeline event, on the case's own patient.

:func:`located_error` turns the problems (these or pydantic's) into one
:class:`~healthtwin.errors.ResourceValidationError` naming each field path and its line.

Examples
--------
>>> from healthtwin.education.case import load_case
>>> list(cross_issues(load_case("hypoglycaemia")))
[]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from healthtwin.core.yaml_lines import line_of, validation_issue
from healthtwin.education.patients import spec_parameters
from healthtwin.education.responders import make_responder
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    ResourceValidationError,
    UnknownModelError,
)

if TYPE_CHECKING:
    from healthtwin.education.case import Case

__all__ = ["Issue", "cross_issues", "located_error"]

#: A problem found: the field path inside the case and the message.
Issue = tuple[tuple[int | str, ...], str]


def cross_issues(case: Case) -> Iterator[Issue]:
    """Every cross-check problem of a field-valid case, in a stable order.

    Parameters
    ----------
    case
        A case whose fields passed validation.

    Yields
    ------
    Issue
        ``(location, message)``: the field path of the problem and what is wrong.
    """
    yield from _id_issues(case)
    try:
        responder = make_responder(case.patient.model)
    except UnknownModelError as err:
        yield ("patient", "model"), str(err)
        return
    yield from _measure_issues(case, set(responder.measures))
    yield from _dry_run_issues(case, responder)


def _id_issues(case: Case) -> Iterator[Issue]:
    actions = [a.id for a in case.actions]
    infos = [i.id for i in case.information]
    for name, ids in (("actions", actions), ("information", infos)):
        dupes = sorted({x for x in ids if ids.count(x) > 1})
        if dupes:
            yield (name,), f"ids must be unique; repeated: {dupes}"
    refs: list[tuple[tuple[int | str, ...], str, list[str]]] = []
    r = case.rubric
    refs += [
        (("rubric", "critical_actions", k, "action"), c.action, actions)
        for k, c in enumerate(r.critical_actions)
    ]
    refs += [
        (("rubric", "critical_actions", k, "any_of"), a, actions)
        for k, c in enumerate(r.critical_actions)
        for a in c.any_of
    ]
    for k, q in enumerate(r.required):
        if q.before_action is not None:
            refs.append((("rubric", "required", k, "before_action"), q.before_action, actions))
        if q.action is not None:
            refs.append((("rubric", "required", k, "action"), q.action, actions))
        if q.info is not None:
            refs.append((("rubric", "required", k, "info"), q.info, infos))
    for k, c in enumerate(r.contraindicated):
        refs.append((("rubric", "contraindicated", k, "action"), c.action, actions))
        if c.before_info is not None:
            refs.append((("rubric", "contraindicated", k, "before_info"), c.before_info, infos))
    refs += [(("expert", k, "action"), e.action, actions) for k, e in enumerate(case.expert)]
    for k, i in enumerate(case.information):
        refs += [(("information", k, "requires"), q, infos) for q in i.requires]
    for loc, ref, valid in refs:
        if ref not in valid:
            yield loc, f"{ref!r} is not a defined id; valid ids are {valid}"
    yield from _dose_issues(case)


def _dose_issues(case: Case) -> Iterator[Issue]:
    by_id = {a.id: a for a in case.actions}
    for k, step in enumerate(case.expert):
        spec = by_id.get(step.action)
        if spec is None:
            continue
        if spec.dose is None and step.dose is not None:
            yield ("expert", k, "dose"), f"action {spec.id!r} takes no dose; remove the dose"
        elif spec.dose is not None and step.dose is not None:
            d = spec.dose
            if not d.min <= step.dose <= d.max:
                yield (
                    ("expert", k, "dose"),
                    (f"dose {step.dose:g} {d.unit} is outside [{d.min:g}, {d.max:g}] {d.unit}"),
                )
        if step.at_min > case.duration_min:
            yield (
                ("expert", k, "at_min"),
                (f"at_min {step.at_min:g} is after the case's end ({case.duration_min:g} min)"),
            )


def _measure_issues(case: Case, known: set[str]) -> Iterator[Issue]:
    places: list[tuple[tuple[int | str, ...], str]] = []
    places += [(("monitor", k), m) for k, m in enumerate(case.monitor)]
    for k, i in enumerate(case.information):
        places += [(("information", k, "measure"), m) for m in i.all_measures]
    for k, n in enumerate(case.narrative):
        if n.when is not None:
            places.append((("narrative", k, "when", "measure"), n.when.measure))
    r = case.rubric
    places += [(("rubric", "harm", k, "measure"), h.measure) for k, h in enumerate(r.harm)]
    places += [
        (("rubric", "harm", k, "when", "measure"), h.when.measure)
        for k, h in enumerate(r.harm)
        if h.when is not None
    ]
    places += [
        (("rubric", "final_state", k, "measure"), f.measure) for k, f in enumerate(r.final_state)
    ]
    for k, c in enumerate(r.contraindicated):
        if c.when is not None:
            places.append((("rubric", "contraindicated", k, "when", "measure"), c.when.measure))
    for loc, measure in places:
        if measure not in known:
            yield (
                loc,
                (
                    f"measure {measure!r} is not reported by the {case.patient.model!r} responder; "
                    f"it reports {sorted(known)}"
                ),
            )


def _dry_run_issues(case: Case, responder: Any) -> Iterator[Issue]:
    params = spec_parameters(case.patient)
    try:
        state0 = responder.initial(params, case.initial_state, np.random.default_rng(0))
    except (InvalidInputError, InvalidParameterError) as err:
        yield ("initial_state",), str(err)
        return
    for k, a in enumerate(case.actions):
        try:
            responder.apply(state0, a.effect, None if a.dose is None else a.dose.default, 0.0)
        except (InvalidInputError, InvalidParameterError) as err:
            yield ("actions", k, "effect"), str(err)
    for k, e in enumerate(case.timeline):
        try:
            responder.event(state0, e.params, e.at_min)
        except (InvalidInputError, InvalidParameterError) as err:
            yield ("timeline", k, "event"), str(err)


def located_error(
    source: str, root: yaml.Node | None, problems: Sequence[Issue]
) -> ResourceValidationError:
    """One error listing every problem with its field path, and the first one's line.

    Parameters
    ----------
    source
        The case file's name (the message starts with ``<source>:<line>``).
    root
        The YAML node tree of the case (``yaml.compose``), or None when there is no file.
    problems
        At least one ``(location, message)`` pair.

    Examples
    --------
    >>> root = yaml.compose("id: x\\nversion: 0\\n")
    >>> str(located_error("c.yaml", root, [(("version",), "must be >= 1")]))
    'c.yaml:2: invalid training case: version: (line 2) must be >= 1'
    """
    issues = tuple(validation_issue({"loc": loc, "msg": msg}, root) for loc, msg in problems)
    text = "; ".join(f"{i.path}: {i.message}" if i.path else i.message for i in issues)
    where = f"{source}:{line_of(root, problems[0][0])}" if root is not None else source
    return ResourceValidationError(f"{where}: invalid training case: {text}", issues)
