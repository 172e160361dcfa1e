"""The debrief's cost model and its reported run, without HTTP."""

from __future__ import annotations

import pytest

from healthtwin.education.case import load_case
from healthtwin.education.debrief import debrief
from healthtwin.education.debrief_runs import (
    DEBRIEF_JOB_KIND,
    debrief_replays,
    debrief_twin_min,
    run_debrief,
)
from healthtwin.education.engine import replay
from healthtwin.education.i18n import Localizer
from healthtwin.education.record import ActionTaken, SessionRecord
from healthtwin.education.session_views import SessionView, debrief_doc
from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.reporting import SilentReporter

CASE = load_case("hypoglycaemia")
ACTIONS = [ActionTaken(3.0, "give_dextrose_iv", 15.0), ActionTaken(8.0, "give_oral_glucose", 15.0)]
SHIFTS = (-2.0,)


class StopRunError(Exception):
    """What the test's reporter raises to stop a run."""


class Recorder:
    """A reporter that keeps every report and stops the run after ``stop_after`` of them."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.reports: list[tuple[float, str]] = []
        self.stop_after = stop_after

    def check(self) -> None:
        if self.stop_after is not None and len(self.reports) >= self.stop_after:
            raise StopRunError("stopped")

    def progress(self, fraction: float, message: str = "") -> None:
        self.reports.append((fraction, message))


@pytest.fixture(scope="module")
def record() -> SessionRecord:
    return replay(CASE, ACTIONS, seed=2)


def test_the_replay_count_is_the_debriefs_variants_times_its_draws(record: SessionRecord) -> None:
    found = debrief(CASE, record, shifts=SHIFTS, n_draws=1)
    # The session, the expert pathway, and per action each shift and its removal.
    assert len(found.variants) == 2 + len(ACTIONS) * (len(SHIFTS) + 1)
    assert debrief_replays(len(ACTIONS), len(SHIFTS), 1) == len(found.variants)
    assert debrief_replays(len(ACTIONS), len(SHIFTS), 7) == 7 * len(found.variants)


def test_the_cost_is_replays_times_the_cases_duration() -> None:
    assert debrief_twin_min(2, 1, 10, CASE.duration_min) == 10 * (2 + 2 * 2) * 60.0


def test_a_debrief_beyond_the_limit_is_refused_naming_the_draws_that_fit() -> None:
    per_draw = debrief_replays(5, 4, 1) * 60.0  # 27 replays of 60 minutes
    limit = 10.5 * per_draw
    assert debrief_twin_min(5, 4, 10, 60.0, limit_twin_min=limit) == 10 * per_draw
    with pytest.raises(InvalidInputError, match="n_draws <= 10,"):
        debrief_twin_min(5, 4, 11, 60.0, limit_twin_min=limit)
    with pytest.raises(InvalidInputError, match="ask for fewer shifts"):
        debrief_twin_min(5, 4, 1, 60.0, limit_twin_min=per_draw / 2)


def test_a_run_reports_replays_done_and_equals_the_synchronous_debrief(
    record: SessionRecord,
) -> None:
    view = SessionView.of(CASE, Localizer("de"))
    reporter = Recorder()
    out = run_debrief(CASE, record, view, reporter, session_id="es-1", shifts=SHIFTS, n_draws=2)
    total = debrief_replays(len(ACTIONS), len(SHIFTS), 2)
    n_variants = total // 2
    assert [m for _, m in reporter.reports] == [
        f"{2 * k} of {total} patient replays" for k in range(1, n_variants + 1)
    ]
    assert [f for f, _ in reporter.reports][-1] == 1.0
    assert (out.summary["kind"], out.summary["session_id"], out.summary["locale"]) == (
        DEBRIEF_JOB_KIND,
        "es-1",
        "de",
    )
    expected = debrief_doc(debrief(CASE, record, shifts=SHIFTS, n_draws=2), view)
    assert out.summary["debrief"] == expected


def test_a_reporter_stops_a_run_between_variants(record: SessionRecord) -> None:
    reporter = Recorder(stop_after=2)
    view = SessionView.of(CASE, Localizer("en"))
    with pytest.raises(StopRunError):
        run_debrief(CASE, record, view, reporter, session_id="es-2", shifts=SHIFTS, n_draws=1)
    assert len(reporter.reports) == 2


def test_a_silent_run_gives_the_same_summary(record: SessionRecord) -> None:
    view = SessionView.of(CASE, Localizer("en"))
    first = run_debrief(
        CASE, record, view, SilentReporter(), session_id="es-3", shifts=SHIFTS, n_draws=1
    )
    second = run_debrief(
        CASE, record, view, Recorder(), session_id="es-3", shifts=SHIFTS, n_draws=1
    )
    assert first.summary == second.summary
