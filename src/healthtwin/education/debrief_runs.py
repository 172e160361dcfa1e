"""What a counterfactual debrief costs, and a debrief run that reports its progress.

A debrief (:func:`~healthtwin.education.debrief.debrief`) replays the learner's patient
``n_draws`` times per variant: the played session, the expert pathway and, per action,
each shift of its time and its removal. Its cost in twin minutes is those replays times
the case's duration (:func:`debrief_twin_min`); a service answers a small one within a
request (:data:`SYNC_DEBRIEF_TWIN_MIN`), runs a larger one in the background and refuses
one beyond :data:`MAX_DEBRIEF_TWIN_MIN`, saying how to shrink it. :func:`run_debrief` is
the background run: progress is the patient replays done over their total, reported after
each variant, where the reporter may stop it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from healthtwin.education.case import Case
from healthtwin.education.debrief import debrief
from healthtwin.education.record import SessionRecord
from healthtwin.education.session_views import SessionView, debrief_doc
from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.reporting import Reporter, RunOutput

__all__ = [
    "DEBRIEF_JOB_KIND",
    "MAX_DEBRIEF_TWIN_MIN",
    "SYNC_DEBRIEF_TWIN_MIN",
    "debrief_replays",
    "debrief_twin_min",
    "run_debrief",
]

#: Most twin minutes one debrief may replay: patient replays (draws x variants, the
#: variants being the played session, the expert pathway and, per action, each shift and
#: its removal) x the case's duration. A twin minute costs about 0.75 ms on one core, so
#: the 2 million allowed take about half an hour in the background (33 333 replays of the
#: 60-minute hypoglycaemia case; at the most, 50 draws and 4 shifts, a 22-action 6-hour
#: DKA session).
MAX_DEBRIEF_TWIN_MIN = 2_000_000.0
#: Most twin minutes a debrief may replay inside a request (about 2 s); beyond it the
#: debrief runs in the background.
SYNC_DEBRIEF_TWIN_MIN = 2_500.0
#: The kind of the background runs that debrief a session.
DEBRIEF_JOB_KIND = "education-debrief"


def debrief_replays(n_actions: int, n_shifts: int, n_draws: int) -> int:
    """Patient replays a debrief costs: ``n_draws * (2 + n_actions * (n_shifts + 1))``.

    Examples
    --------
    >>> debrief_replays(n_actions=3, n_shifts=1, n_draws=10)
    80
    """
    return n_draws * (2 + n_actions * (n_shifts + 1))


def debrief_twin_min(
    n_actions: int,
    n_shifts: int,
    n_draws: int,
    duration_min: float,
    *,
    limit_twin_min: float = MAX_DEBRIEF_TWIN_MIN,
) -> float:
    """Twin minutes a debrief replays, refused beyond ``limit_twin_min``.

    Parameters
    ----------
    n_actions, n_shifts, n_draws
        Actions of the session, shifts tried per action, patients per variant.
    duration_min
        The case's duration (each replay runs the whole case).
    limit_twin_min
        Most twin minutes one debrief may replay.

    Returns
    -------
    float
        ``debrief_replays(...) * duration_min``.

    Raises
    ------
    InvalidInputError
        Beyond the limit, naming the most ``n_draws`` that fit (or fewer shifts).

    Examples
    --------
    >>> debrief_twin_min(3, 1, 10, 60.0)
    4800.0
    >>> debrief_twin_min(3, 1, 10, 60.0, limit_twin_min=1000)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: a debrief of 3 actions ... ask for n_draws <= 2, ...
    """
    replays = debrief_replays(n_actions, n_shifts, n_draws)
    if replays * duration_min > limit_twin_min:
        per_draw = debrief_replays(n_actions, n_shifts, 1)
        most = int(limit_twin_min // (per_draw * duration_min))
        hint = f"ask for n_draws <= {most}" if most >= 1 else "ask for fewer shifts"
        raise InvalidInputError(
            f"a debrief of {n_actions} actions with {n_shifts} shifts and "
            f"n_draws={n_draws} costs {replays} patient replays of {duration_min:g} "
            f"minutes, more than the {limit_twin_min:g} twin minutes one debrief job may run; "
            f"{hint}, or debrief offline with 'healthtwin educate grade --debrief'"
        )
    return replays * duration_min


def run_debrief(
    case: Case,
    record: SessionRecord,
    view: SessionView,
    reporter: Reporter,
    *,
    session_id: str,
    shifts: Sequence[float],
    n_draws: int,
) -> RunOutput:
    """Debrief ``record`` reporting progress, and render it for the learner.

    Progress is the patient replays done over their total, after each variant (of
    ``n_draws`` replays), where ``reporter.check()`` may stop the run too.

    Returns
    -------
    RunOutput
        Its summary holds ``kind`` (:data:`DEBRIEF_JOB_KIND`), ``session_id``, ``locale``
        and ``debrief``: the document a synchronous debrief answers
        (:func:`~healthtwin.education.session_views.debrief_doc`).

    Examples
    --------
    >>> from healthtwin.education.engine import replay
    >>> from healthtwin.education.record import ActionTaken
    >>> from healthtwin.education.i18n import Localizer
    >>> from healthtwin.education.case import load_case
    >>> from healthtwin.scenarios.reporting import SilentReporter
    >>> case = load_case("hypoglycaemia")
    >>> record = replay(case, [ActionTaken(2.0, "give_dextrose_iv", 15.0)], seed=1)
    >>> out = run_debrief(case, record, SessionView.of(case, Localizer("en")), SilentReporter(),
    ...                   session_id="es-1", shifts=[-1.0], n_draws=1)
    >>> out.summary["kind"], len(out.summary["debrief"]["variants"])
    ('education-debrief', 4)
    """
    reporter.check()

    def progress(done: int, total: int) -> None:
        reporter.progress(done / total, f"{done * n_draws} of {total * n_draws} patient replays")
        reporter.check()

    found = debrief(case, record, shifts=tuple(shifts), n_draws=n_draws, progress=progress)
    summary: dict[str, Any] = {
        "kind": DEBRIEF_JOB_KIND,
        "session_id": session_id,
        "locale": view.loc.choice.tag,
        "debrief": debrief_doc(found, view),
    }
    return RunOutput(summary)
