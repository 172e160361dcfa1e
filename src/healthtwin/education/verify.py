"""Trust no stored measure: re-derive a session record from its actions before grading it.

A session file holds the learner's actions *and* what the twin did with them (the
measures, events, death). Scoring reads the latter, so a hand-edited file could claim a
good outcome that its actions never produced. :func:`verified_record` replays the record's
actions and requests with its seed (:func:`~healthtwin.education.engine.replay` is
deterministic) and refuses a record whose stored course differs from the replay beyond
float round-off; the grader then scores the *replayed* record, never the stored one.

Examples
--------
>>> from healthtwin.education.case import load_case
>>> from healthtwin.education.engine import replay
>>> from healthtwin.education.record import ActionTaken
>>> case = load_case("hypoglycaemia")
>>> rec = replay(case, [ActionTaken(2.0, "give_dextrose_iv", 15.0)])
>>> verified_record(case, rec).ended_min
60.0
"""

from __future__ import annotations

import dataclasses

import numpy as np

from healthtwin.education.case import Case
from healthtwin.education.engine import replay
from healthtwin.education.record import SessionRecord
from healthtwin.errors import InvalidInputError

__all__ = ["RTOL", "verified_record"]

#: Relative (and absolute) tolerance of the comparison: JSON keeps floats exactly, so
#: anything beyond round-off means the record was not produced by its actions.
RTOL = 1e-9


def verified_record(case: Case, record: SessionRecord) -> SessionRecord:
    """Replay ``record``'s actions and requests and return the replayed record.

    Parameters
    ----------
    case : Case
        The case the record was played on.
    record : SessionRecord
        A stored session (e.g. read from ``session.json``).

    Returns
    -------
    SessionRecord
        The replay (with the stored ``started_at``), which is what should be scored.

    Raises
    ------
    InvalidInputError
        If the record is of another case or version, if an action cannot be replayed
        (unknown id, dose out of range), or if its measures, times, events, death or
        actions differ from the replay; the message names the first difference.
    """
    if record.case_id != case.id or record.case_version != case.version:
        raise InvalidInputError(
            f"the record is of case {record.case_id!r} version {record.case_version}, not "
            f"{case.id!r} version {case.version}; grade it with the case it was played on"
        )
    try:
        again = replay(
            case,
            record.actions,
            seed=record.seed,
            until_min=record.ended_min,
            requests=record.requests,
        )
    except InvalidInputError as err:
        raise InvalidInputError(
            f"the session record cannot be replayed ({err}); it was not written by "
            "'healthtwin educate play' or was edited"
        ) from err
    problem = _difference(record, again)
    if problem is not None:
        raise InvalidInputError(
            f"the session record does not match a replay of its own actions ({problem}); "
            "it was edited or played on another version of healthtwin, so it is not graded"
        )
    return dataclasses.replace(again, started_at=record.started_at)


def _close(a: object, b: object) -> bool:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=RTOL, atol=RTOL, equal_nan=True))


def _difference(stored: SessionRecord, again: SessionRecord) -> str | None:
    if not _close(stored.times_min, again.times_min):
        return "the time grid differs"
    if set(stored.measures) != set(again.measures):
        return f"measures {sorted(stored.measures)} != {sorted(again.measures)}"
    for name in sorted(again.measures):
        if not _close(stored.measures[name], again.measures[name]):
            return f"measure {name!r} differs"
    if len(stored.events) != len(again.events) or any(
        e1 != e2 or not _close(t1, t2)
        for (t1, e1), (t2, e2) in zip(stored.events, again.events, strict=True)
    ):
        return "the timeline events differ"
    # A record without ``died_min`` may predate the field: the replay's death is scored.
    if stored.died_min is not None and (
        again.died_min is None or not _close(stored.died_min, again.died_min)
    ):
        return f"death at minute {stored.died_min} != {again.died_min}"
    if not _close(stored.ended_min, again.ended_min):
        return f"ended at minute {stored.ended_min:g} != {again.ended_min:g}"
    mine = sorted((a.t_min, a.action_id, _dose(a.dose)) for a in stored.actions)
    theirs = sorted((a.t_min, a.action_id, _dose(a.dose)) for a in again.actions)
    if mine != theirs:
        return "some actions were not taken (after the end of the case or after death)"
    if sorted((r.t_min, r.info_id, r.ready_min) for r in stored.requests) != sorted(
        (r.t_min, r.info_id, r.ready_min) for r in again.requests
    ):
        return "the information requests or their result times differ"
    return None


def _dose(dose: float | None) -> float:
    return -1.0 if dose is None else dose
