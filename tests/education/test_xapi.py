"""xAPI statements of a session, checked against the xAPI 1.0.3 statement requirements.

The checker below encodes the rules of the Experience API 1.0.3, Part Two ("Experience API
(xAPI) Data", ADL, github.com/adlnet/xAPI-Spec, xAPI-Data.md) that our statements touch:
section 2.2 (actor, verb and object required; no null values outside extensions; no
properties beyond the spec's), 2.4.2 (an Agent has exactly one inverse functional
identifier; mbox is a ``mailto:`` IRI), 2.4.3 (verb id is an IRI, display a language map),
2.4.4.1 (an Activity has an IRI id), 2.4.5 / 2.4.5.1 (result; score ``scaled`` in [-1, 1],
``min`` < ``max``, ``raw`` between them; ``success`` / ``completion`` booleans), 2.4.6
(context ``registration`` is a UUID; ``extensions`` keys are IRIs, section 4.1), 2.4.7 and
4.5 (timestamp ISO 8601), 2.4.10 (a provider that sets ``version`` sets ``1.0.0``), 4.4
(statement id a UUID) and 4.6 (duration ISO 8601).
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid
from typing import Any

import pytest

from healthtwin.education.case import Case, load_case
from healthtwin.education.engine import replay
from healthtwin.education.record import ActionTaken, InfoRequest, SessionRecord
from healthtwin.education.scoring import score
from healthtwin.education.xapi import iso_duration, xapi_statements
from healthtwin.errors import InvalidInputError

STATEMENT_KEYS = {"id", "actor", "verb", "object", "result", "context", "timestamp", "stored",
                  "authority", "version", "attachments"}  # fmt: skip
IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)
LANGUAGE_TAG = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")


def _iri(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$", value) is not None


def _no_nulls(node: Any, path: str = "") -> list[str]:
    if node is None:
        return [f"{path}: null (2.2.s4.b1.b1)"]
    if isinstance(node, dict):
        return [
            e for k, v in node.items() if k != "extensions" for e in _no_nulls(v, f"{path}.{k}")
        ]
    if isinstance(node, list):
        return [e for i, v in enumerate(node) for e in _no_nulls(v, f"{path}[{i}]")]
    return []


def _language_map(value: Any) -> bool:
    return isinstance(value, dict) and all(LANGUAGE_TAG.match(k) for k in value)


def xapi_problems(st: dict[str, Any]) -> list[str]:
    """Every xAPI 1.0.3 rule the statement breaks (empty when it conforms)."""
    problems = _no_nulls(st)
    problems += [f"unknown property {k!r} (2.2.s3.b6)" for k in set(st) - STATEMENT_KEYS]
    for key in ("actor", "verb", "object"):
        if key not in st:
            problems.append(f"missing {key} (2.2.s2.b3)")
    actor = st.get("actor", {})
    if sum(k in actor for k in IFIS) != 1:
        problems.append("an Agent needs exactly one inverse functional identifier (2.4.2.1)")
    if "mbox" in actor and not re.match(r"^mailto:[^@\s]+@[^@\s]+\.[^@\s]+$", actor["mbox"]):
        problems.append(f"mbox {actor['mbox']!r} is not a mailto IRI (2.4.2.3)")
    verb = st.get("verb", {})
    if not _iri(verb.get("id")):
        problems.append("verb id must be an IRI (2.4.3)")
    if "display" in verb and not _language_map(verb["display"]):
        problems.append("verb display must be a language map (2.4.3)")
    obj = st.get("object", {})
    if obj.get("objectType", "Activity") == "Activity" and not _iri(obj.get("id")):
        problems.append("an Activity id must be an IRI (2.4.4.1)")
    definition = obj.get("definition", {})
    for key in ("name", "description"):
        if key in definition and not _language_map(definition[key]):
            problems.append(f"activity {key} must be a language map (2.4.4.1)")
    if "type" in definition and not _iri(definition["type"]):
        problems.append("activity type must be an IRI (2.4.4.1)")
    problems += _result_problems(st.get("result"))
    context = st.get("context", {})
    if "registration" in context and not _uuid(context["registration"]):
        problems.append("context registration must be a UUID (2.4.6)")
    if not all(_iri(k) for k in context.get("extensions", {})):
        problems.append("extension keys must be IRIs (4.1)")
    if "id" in st and not _uuid(st["id"]):
        problems.append("statement id must be a UUID (4.4)")
    if "timestamp" in st:
        try:
            dt.datetime.fromisoformat(st["timestamp"])
        except ValueError:
            problems.append("timestamp must be ISO 8601 (4.5)")
    if "version" in st and st["version"] != "1.0.0":
        problems.append("a provider that sets version must set 1.0.0 (2.4.10.s4.b1)")
    return problems


def _result_problems(result: dict[str, Any] | None) -> list[str]:
    if result is None:
        return []
    problems = []
    known = {"score", "success", "completion", "response", "duration", "extensions"}
    problems += [f"unknown result property {k!r} (2.4.5)" for k in set(result) - known]
    s = result.get("score", {})
    if "scaled" in s and not -1 <= s["scaled"] <= 1:
        problems.append("score.scaled must lie in [-1, 1] (2.4.5.1)")
    if "min" in s and "max" in s and not s["min"] < s["max"]:
        problems.append("score.min must be below score.max (2.4.5.1)")
    if "raw" in s and not s.get("min", s["raw"]) <= s["raw"] <= s.get("max", s["raw"]):
        problems.append("score.raw must lie between min and max (2.4.5.1)")
    for key in ("success", "completion"):
        if key in result and not isinstance(result[key], bool):
            problems.append(f"result.{key} must be a boolean (2.4.5)")
    if "duration" in result and not DURATION.match(result["duration"]):
        problems.append("result.duration must be an ISO 8601 duration (4.6)")
    return problems


def _uuid(text: Any) -> bool:
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True


START = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def played() -> tuple[Case, SessionRecord]:
    case = load_case("hypoglycaemia")
    actions = [
        ActionTaken(2.0, "give_dextrose_iv", 15.0),
        ActionTaken(25.0, "give_long_acting_carbohydrate"),
    ]
    requests = [
        InfoRequest(0.0, "history_nurse", 0.0),
        InfoRequest(1.0, "capillary_glucose", 2.0),
    ]
    record = replay(case, actions, requests=requests)
    return case, record


def _statements(case: Case, record: SessionRecord) -> list[dict[str, Any]]:
    return xapi_statements(
        case, record, score(case, record), actor_mbox="ana@example.org", started_at=START
    )


def test_every_statement_meets_the_spec(played: tuple[Case, SessionRecord]) -> None:
    for st in _statements(*played):
        assert xapi_problems(st) == [], st


def test_the_story_is_attempted_interacted_completed_and_graded(
    played: tuple[Case, SessionRecord],
) -> None:
    case, record = played
    report = score(case, record)
    statements = _statements(case, record)
    verbs = [s["verb"]["id"].rsplit("/", 1)[1] for s in statements]
    assert verbs == ["attempted"] + ["interacted"] * 4 + [
        "completed",
        "failed" if not report.passed else "passed",
    ]
    assert all(s["verb"]["id"].startswith("http://adlnet.gov/expapi/verbs/") for s in statements)
    final = statements[-1]["result"]
    assert final["score"] == {
        "scaled": round(report.total / report.max_total, 4),
        "raw": report.total,
        "min": 0.0,
        "max": report.max_total,
    }
    assert final["success"] is report.passed
    assert final["duration"] == "PT1H"
    ext = statements[0]["context"]["extensions"]
    assert ext["https://healthtwin.example/xapi/extensions/case-id"] == "hypoglycaemia"
    assert ext["https://healthtwin.example/xapi/extensions/seed"] == 0
    # Timestamps are the start plus the twin minutes of each action (sorted with requests).
    stamps = [dt.datetime.fromisoformat(s["timestamp"]) for s in statements]
    assert [(t - START).total_seconds() / 60 for t in stamps] == [0, 0, 1, 2, 25, 60, 60]
    dose = statements[3]["result"]["extensions"]
    assert dose["https://healthtwin.example/xapi/extensions/dose"] == 15.0
    assert "{name}" not in statements[0]["object"]["definition"]["description"]["en"]


def test_the_expert_pathway_passes_in_xapi() -> None:
    case = load_case("hypoglycaemia")
    record = replay(case, [ActionTaken(e.at_min, e.action, e.dose) for e in case.expert],
                    requests=[InfoRequest(0.0, "history_nurse", 0.0),
                              InfoRequest(0.0, "capillary_glucose", 1.0)])  # fmt: skip
    last = _statements(case, record)[-1]
    assert last["verb"]["id"] == "http://adlnet.gov/expapi/verbs/passed"
    assert last["result"]["success"] is True


def test_the_same_session_gives_the_same_statement_ids(
    played: tuple[Case, SessionRecord],
) -> None:
    first, second = _statements(*played), _statements(*played)
    assert [s["id"] for s in first] == [s["id"] for s in second]
    assert len({s["id"] for s in first}) == len(first)


def test_the_checker_catches_broken_statements(played: tuple[Case, SessionRecord]) -> None:
    good = _statements(*played)[-1]
    broken = copy.deepcopy(good)
    del broken["actor"]
    broken["result"]["score"]["scaled"] = 1.5
    broken["result"]["duration"] = "60 minutes"
    broken["version"] = "1.0.3"
    problems = " ".join(xapi_problems(broken))
    for rule in ("2.2.s2.b3", "2.4.5.1", "4.6", "2.4.10"):
        assert rule in problems


def test_iso_durations() -> None:
    assert iso_duration(60.0) == "PT1H"
    assert iso_duration(1.5) == "PT1M30S"
    assert iso_duration(0.0) == "PT0S"
    assert iso_duration(0.001) == "PT0.06S"
    assert all(DURATION.match(iso_duration(m)) for m in (0.0, 0.001, 59.99, 61.0, 1441.25))


def test_a_bad_actor_is_refused(played: tuple[Case, SessionRecord]) -> None:
    case, record = played
    with pytest.raises(InvalidInputError, match="not an e-mail address"):
        xapi_statements(case, record, score(case, record), actor_mbox="ana")
