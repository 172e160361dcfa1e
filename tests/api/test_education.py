"""Training cases over a real uvicorn server: play, score, grade again, in several locales.

One unsecured server for the module (fresh sessions per test) plays the hypoglycaemia case
with the expert's actions through ``/api/v1/education``; the same actions typed in German
and Chinese number formats must give the same record and score as in English, a finished
session must be stored and graded again, and bad input must be answered as RFC 9457
problem details that say what was wrong. A secured server checks the routes are governed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.api.security_fixtures import Keys, claims, config, secure_server
from tests.api.v1_server import running

from healthtwin.api.v1_governance import classify_v1
from healthtwin.education.case import load_case
from healthtwin.education.engine import replay
from healthtwin.education.i18n import Localizer
from healthtwin.education.learner_errors import (
    ERR_DOSE_OUT_OF_RANGE,
    ERR_MINUTES_NOT_POSITIVE,
    ERR_NOT_A_NUMBER_HINT,
    ERR_SESSION_CLOSED,
)
from healthtwin.education.record import ActionTaken
from healthtwin.education.scoring import score
from healthtwin.store import Store

PROBLEM = "application/problem+json"
# The case's expert pathway, as the learner types the doses in each locale: IV glucose,
# a capillary recheck after it (above 4.0 mmol/L: no repeat), a long-acting carbohydrate.
DOSES = {"en": ("20.0", "20"), "de": ("20,0", "20"), "zh": ("20.0", "20")}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Store]]:
    with (
        running(tmp_path_factory.mktemp("education")) as (root, store, _),
        httpx.Client(base_url=f"{root}/api/v1/education", timeout=60) as client,
    ):
        yield client, store


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


def _start(client: httpx.Client, locale: str = "en", **extra: Any) -> dict[str, Any]:
    body = {"case_id": "hypoglycaemia", "seed": 3, "locale": locale, **extra}
    response = client.post("/sessions", json=body)
    state = _ok(response, 201)
    assert response.headers["location"] == f"/api/v1/education/sessions/{state['session_id']}"
    return state


def _play_expert(client: httpx.Client, locale: str) -> tuple[str, dict[str, Any]]:
    """The expert pathway of the hypoglycaemia case, with the rubric's requests."""
    sid = _start(client, locale)["session_id"]
    first, snack = DOSES[locale]
    for info in ("capillary_glucose", "history_nurse"):
        _ok(client.post(f"/sessions/{sid}/requests", json={"info_id": info}))
    _ok(client.post(f"/sessions/{sid}/advance", json={"minutes": 2}))
    _ok(
        client.post(
            f"/sessions/{sid}/actions", json={"action_id": "give_dextrose_iv", "dose": first}
        )
    )
    _ok(client.post(f"/sessions/{sid}/advance", json={"minutes": 15}))
    _ok(client.post(f"/sessions/{sid}/requests", json={"info_id": "capillary_glucose"}))
    _ok(client.post(f"/sessions/{sid}/advance", json={"minutes": 3}))
    state = _ok(
        client.post(
            f"/sessions/{sid}/actions",
            json={"action_id": "give_long_acting_carbohydrate", "dose": snack},
        )
    )
    return sid, state


def test_cases_are_listed_with_titles_in_the_learners_language(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    en = _ok(client.get("/cases"))
    de = _ok(client.get("/cases", params={"locale": "de_DE"}))
    assert [c["id"] for c in en["cases"]] == [c["id"] for c in de["cases"]]
    assert {"hypoglycaemia", "septic_shock"} <= {c["id"] for c in en["cases"]}
    titles = {
        c["id"]: (c["title"], d["title"]) for c, d in zip(en["cases"], de["cases"], strict=True)
    }
    assert titles["hypoglycaemia"][0] == "Drowsy on the ward"
    assert titles["hypoglycaemia"][1] != titles["hypoglycaemia"][0]


def test_the_expert_pathway_passes_and_the_record_matches_a_replay(
    api: tuple[httpx.Client, Store],
) -> None:
    client, store = api
    sid, state = _play_expert(client, "en")
    assert state["now_min"] == 20.0
    assert [v["measure"] for v in state["vitals"]][:2] == ["hr_per_min", "map_mmhg"]
    # the glucose the learner saw: a capillary result at minute 1, in mmol/L in English
    result, recheck = [r for r in state["results"] if r["measure"] == "glucose_mmol_per_l"]
    assert result["t_min"] == 1.0
    assert recheck["t_min"] == 18.0
    assert recheck["value"] > 4.0
    assert result["unit_local"] == "mmol/L"
    assert result["value"] < 3.0
    assert any(
        m["kind"] == "result" and "Capillary glucose" in m["text"] for m in state["messages"]
    )
    ended = _ok(client.post(f"/sessions/{sid}/end", json={"actor_mbox": "mailto:a@example.org"}))
    report = ended["score"]
    assert report["passed"] is True
    assert report["total"] >= report["pass_mark"]
    assert ended["state"]["now_min"] == 60.0
    assert ended["state"]["ended"] is True
    assert all(i["text"] for i in report["items"])
    critical = next(i for i in report["items"] if i["kind"] == "critical")
    assert critical["subject"] == "Give intravenous glucose over a quarter of an hour"
    assert critical["points"] == critical["max_points"] > 0
    verbs = [s["verb"]["id"].rsplit("/", 1)[-1] for s in ended["xapi"]]
    assert verbs[0] == "attempted"
    assert verbs[-1] == "passed"
    # the same actions replayed by the engine give the identical record and score
    case = load_case("hypoglycaemia")
    actions = [
        ActionTaken(a["t_min"], a["action_id"], a["dose"]) for a in ended["record"]["actions"]
    ]
    assert [(a.t_min, a.dose) for a in actions] == [(2.0, 20.0), (20.0, 20.0)]
    again = score(case, replay(case, actions, seed=3, requests=_requests(ended["record"])))
    assert again.total == report["total"]
    # stored: graded again later, in another locale, with the same points
    [snapshot] = store.twin_state_history(f"edu.{sid}")
    assert snapshot.metadata["record"]["case_id"] == "hypoglycaemia"
    later = _ok(client.get(f"/sessions/{sid}/report", params={"locale": "fr"}))
    assert later["score"]["total"] == report["total"]
    assert later["locale"] == "fr"
    # a finished session takes no more moves
    refused = client.post(f"/sessions/{sid}/advance", json={"minutes": 1})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM


def _requests(record: dict[str, Any]) -> list[Any]:
    from healthtwin.education.record import InfoRequest

    return [InfoRequest(r["t_min"], r["info_id"], r["ready_min"]) for r in record["requests"]]


def test_the_same_actions_give_the_same_score_in_german_and_chinese(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    reports = {}
    for locale in ("en", "de", "zh"):
        sid, state = _play_expert(client, locale)
        reports[locale] = _ok(client.post(f"/sessions/{sid}/end"))
        assert state["language"] == locale
    assert reports["de"]["record"]["actions"] == reports["en"]["record"]["actions"]
    assert reports["zh"]["record"]["measures"] == reports["en"]["record"]["measures"]
    totals = {k: r["score"]["total"] for k, r in reports.items()}
    assert totals["de"] == totals["zh"] == totals["en"]
    # rendered for the learner: German uses mg/dl for glucose, Chinese keeps mmol/L
    de_glucose = [
        r for r in reports["de"]["state"]["results"] if r["measure"].startswith("glucose")
    ]
    zh_glucose = [
        r for r in reports["zh"]["state"]["results"] if r["measure"].startswith("glucose")
    ]
    assert de_glucose[0]["unit_local"] == "mg/dl"
    assert "mg/dl" in de_glucose[0]["text"]
    assert zh_glucose[0]["unit_local"] == "mmol/L"
    assert de_glucose[0]["value_local"] == pytest.approx(zh_glucose[0]["value_local"] * 18.016)
    assert reports["de"]["score"]["items"][0]["text"] != reports["zh"]["score"]["items"][0]["text"]


def test_the_state_is_rendered_in_the_learners_language_and_units(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    state = _start(client, "de")
    actions = {a["id"]: a for a in state["actions"]}
    dextrose = actions["give_dextrose_iv"]
    assert dextrose["label"] != "Give intravenous glucose over a quarter of an hour"
    assert dextrose["dose"]["unit"] == "g"
    assert dextrose["dose"]["min_local"] == 5.0
    assert state["messages"][0]["kind"] == "narrative"
    english = _ok(client.get(f"/sessions/{state['session_id']}", params={"locale": "en"}))
    assert english["messages"][0]["text"] != state["messages"][0]["text"]
    temp = next(v for v in state["vitals"] if v["measure"] == "temp_c")
    assert "," in temp["text"]
    assert temp["value"] == temp["value_local"]
    # kept foreign: the English case's own patient, still in German
    foreign = _start(client, "de", keep_foreign=True)
    assert foreign["messages"][0]["text"] != state["messages"][0]["text"]


def test_the_debrief_gives_bands_for_the_learner_and_the_expert(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    sid = _start(client, "de")["session_id"]
    _ok(client.post(f"/sessions/{sid}/advance", json={"minutes": 10}))
    _ok(client.post(f"/sessions/{sid}/actions", json={"action_id": "give_dextrose_iv"}))
    ended = _ok(client.post(f"/sessions/{sid}/end", json={"debrief": True, "n_draws": 2}))
    variants = {v["id"]: v for v in ended["debrief"]["variants"]}
    assert {"played", "expert", "shift:0:-10"} <= set(variants)
    band = variants["expert"]["outcomes_local"]["glucose_mmol_per_l"]
    assert band["unit_local"] == "mg/dl"
    assert band["q05"] <= band["q50"] <= band["q95"]
    assert variants["expert"]["score"]["q50"] >= variants["played"]["score"]["q50"]
    assert ended["debrief"]["rendered"]
    assert all(ended["debrief"]["rendered"])


def test_a_large_debrief_at_the_end_becomes_a_background_job(
    api: tuple[httpx.Client, Store],
) -> None:
    from healthtwin.api.education import SYNC_DEBRIEF_TWIN_MIN, debrief_replays

    client, _ = api
    sid = _start(client)["session_id"]
    _ok(client.post(f"/sessions/{sid}/actions", json={"action_id": "give_dextrose_iv"}))
    body = {"debrief": True, "n_draws": 50, "shifts": [-10, -5, 5, 10]}
    assert debrief_replays(1, 4, 50) * 60 > SYNC_DEBRIEF_TWIN_MIN
    response = client.post(f"/sessions/{sid}/end", json=body)
    ended = _ok(response, 202)
    job = ended["debrief_job"]
    assert response.headers["location"] == job["location"]
    assert job["location"] == f"/api/v1/education/debriefs/{job['id']}"
    assert job["kind"] == "education-debrief"
    assert "debrief" not in ended
    assert ended["score"]["total"] >= 0  # the report does not wait for the debrief
    # Not needed here: stop it so that the server's one job worker is free again.
    cancelled = _ok(client.post(f"/debriefs/{job['id']}/cancel"), 202)
    assert cancelled["id"] == job["id"]


def test_a_tampered_stored_record_is_not_graded(api: tuple[httpx.Client, Store]) -> None:
    client, store = api
    sid = _start(client)["session_id"]
    _ok(client.post(f"/sessions/{sid}/actions", json={"action_id": "give_dextrose_iv"}))
    _ok(client.post(f"/sessions/{sid}/end"))
    [snapshot] = store.twin_state_history(f"edu.{sid}")
    meta = dict(snapshot.metadata)
    meta["record"] = {**meta["record"], "actions": []}  # good measures, no actions
    store.save_twin_state(
        f"edu.{sid}",
        model=snapshot.model,
        model_version=snapshot.model_version,
        valid_time=snapshot.valid_time,
        arrays=dict(snapshot.arrays),
        metadata=meta,
    )
    _problem(client.get(f"/sessions/{sid}/report"), 400, "does not match a replay")


def _problem(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    detail: str = response.json()["detail"]
    for word in words:
        assert word in detail, detail
    return detail


def test_bad_input_is_answered_as_problem_details(api: tuple[httpx.Client, Store]) -> None:
    client, _ = api
    _problem(client.post("/sessions", json={"case_id": "no_such_case"}), 404, "hypoglycaemia")
    _problem(
        client.post("/sessions", json={"case_id": "hypoglycaemia", "locale": "tlh"}),
        400,
        "tlh",
        "de",
    )
    _problem(client.get("/cases", params={"locale": "xx"}), 400, "xx")
    _problem(client.post("/sessions", json={"case_id": "../etc/passwd"}), 400)
    sid = _start(client, "de")["session_id"]
    act = f"/sessions/{sid}/actions"
    _problem(
        client.post(act, json={"action_id": "give_magic"}), 400, "give_magic", "give_dextrose_iv"
    )
    # out of range, answered in the learner's units and number format
    _problem(
        client.post(act, json={"action_id": "give_glucagon_im", "dose": "2,5"}), 400, "0,5", "mg"
    )
    _problem(client.post(act, json={"action_id": "give_dextrose_iv", "dose": "2.5"}), 400, "2.5")
    _problem(client.post(act, json={"action_id": "give_dextrose_iv", "dose": "viel"}), 400, "viel")
    _problem(client.post(f"/sessions/{sid}/requests", json={"info_id": "mri"}), 400, "mri")
    _problem(client.post(f"/sessions/{sid}/advance", json={"minutes": -1}), 400, "-1")
    _problem(client.post(f"/sessions/{sid}/advance", json={"minutes": 2000}), 400, "minutes")
    _problem(client.get("/sessions/es-nope"), 404, "es-nope")
    _problem(client.get(f"/sessions/{sid}/report"), 404, "end it first")
    # nothing refused was recorded
    assert _ok(client.get(f"/sessions/{sid}"))["now_min"] == 0.0


def test_a_german_learners_refused_dose_comes_back_in_german(
    api: tuple[httpx.Client, Store],
) -> None:
    client, _ = api
    sid = _start(client, "de")["session_id"]
    body = {"action_id": "give_glucagon_im", "dose": "2,5"}
    response = client.post(f"/sessions/{sid}/actions", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    label = Localizer("de").gettext("Give intramuscular glucagon")
    assert label != "Give intramuscular glucagon"
    assert problem["detail"] == (
        f"Die Dosis 2,5\u00a0mg für „{label}“ liegt außerhalb des erlaubten Bereichs von "
        "0,5\u00a0mg bis 1,0\u00a0mg; geben Sie eine Dosis in diesem Bereich."
    )
    assert (problem["type"], problem["title"], problem["status"]) == (
        "about:blank", "Bad Request", 400
    )  # fmt: skip
    assert problem["msgid"] == ERR_DOSE_OUT_OF_RANGE
    assert problem["locale"] == "de"
    assert problem["params"] == {
        "dose": {"value": 2.5, "unit": "mg"},
        "action": "Give intramuscular glucagon",
        "action_id": "give_glucagon_im",
        "low": {"value": 0.5, "unit": "mg"},
        "high": {"value": 1.0, "unit": "mg"},
    }
    # the same refusal read in English, and the engine's refusals in German too
    english = client.post(
        f"/sessions/{sid}/actions", params={"locale": "en"}, json={**body, "dose": "2.5"}
    )
    assert english.json()["detail"].startswith("The dose 2.5\u00a0mg for")
    wait = client.post(f"/sessions/{sid}/advance", json={"minutes": -1.5}).json()
    assert wait["msgid"] == ERR_MINUTES_NOT_POSITIVE
    assert wait["detail"] == (
        "Die Wartezeit muss eine positive Zahl von Minuten sein, erhalten: -1,5."
    )
    typed = client.post(
        f"/sessions/{sid}/actions", json={"action_id": "give_dextrose_iv", "dose": "2.5"}
    ).json()
    assert typed["msgid"] == ERR_NOT_A_NUMBER_HINT
    assert typed["detail"].startswith("„2.5“ ist keine Zahl")
    assert _ok(client.get(f"/sessions/{sid}"))["actions"]  # nothing refused was taken
    _ok(client.post(f"/sessions/{sid}/end"))
    closed = client.post(f"/sessions/{sid}/advance", json={"minutes": 1})
    assert closed.status_code == 409
    assert closed.json()["msgid"] == ERR_SESSION_CLOSED
    assert closed.json()["detail"].startswith("Diese Trainingssitzung ist beendet")
    assert closed.json()["title"] == "Conflict"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store, Keys]]:
    keys = Keys.make()
    with secure_server(tmp_path_factory.mktemp("secure-edu"), keys, config(keys)) as server:
        yield server.base.removesuffix("/fhir"), server.store, keys


def test_the_routes_are_governed_and_audited(secured: tuple[str, Store, Keys]) -> None:
    root, store, keys = secured
    url = f"{root}/api/v1/education/sessions"
    body = {"case_id": "hypoglycaemia"}
    assert httpx.post(url, json=body, timeout=30).status_code == 401
    token = keys.sign(claims("clinician", sub="learner-a"))
    headers = {"Authorization": f"Bearer {token}", "X-Purpose-Of-Use": "TREAT"}
    started = httpx.post(url, json=body, headers=headers, timeout=30)
    assert started.status_code == 201, started.text
    events = store.audit_events(actor="Practitioner/learner-a", action="education")
    assert [(e.purpose, e.outcome) for e in events] == [("TREAT", "success")]
    assert events[0].details["status"] == 201
    # the debrief job's routes are governed and audited the same way
    sid = started.json()["session_id"]
    ended = httpx.post(f"{url}/{sid}/end", headers=headers, timeout=30)
    assert ended.status_code == 200, ended.text
    small = {"n_draws": 1}
    assert httpx.post(f"{url}/{sid}/debrief", json=small, timeout=30).status_code == 401
    queued = httpx.post(f"{url}/{sid}/debrief", json=small, headers=headers, timeout=30)
    assert queued.status_code == 202, queued.text
    job = f"{root}{queued.headers['location']}"
    assert httpx.get(job, timeout=30).status_code == 401
    assert httpx.get(job, headers=headers, timeout=30).status_code == 200
    events = store.audit_events(actor="Practitioner/learner-a", action="education")
    assert [e.details["status"] for e in events] == [201, 200, 202, 200]
    assert classify_v1("POST", f"/api/v1/education/sessions/{sid}/debrief") == classify_v1(
        "POST", f"/api/v1/education/sessions/{sid}/end"
    )
    assert classify_v1("GET", queued.headers["location"]).resource_type == "Task"


def test_the_seed_chooses_the_virtual_patient(api: tuple[httpx.Client, Store]) -> None:
    """Seed 0 is the case's own patient; another seed another member of its cohort."""
    client, _ = api

    def pressure_after_10_min(seed: int) -> float:
        sid = _start(client, case_id="septic_shock", seed=seed)["session_id"]
        state = _ok(client.post(f"/sessions/{sid}/advance", json={"minutes": 10}))
        return float(next(v["value"] for v in state["vitals"] if v["measure"] == "map_mmhg"))

    own, one, two = (pressure_after_10_min(s) for s in (0, 1, 2))
    assert len({own, one, two}) == 3
    assert pressure_after_10_min(1) == one
