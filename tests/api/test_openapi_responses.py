"""The OpenAPI document declares every ``/api/v1`` success body and only the errors that happen.

Each operation's 2xx answer is a model of :mod:`healthtwin.api.schemas` (an object with
properties), unless :data:`~healthtwin.api.schemas.OPEN_BODIES` lists it as open with a
reason. ``404`` is declared where there is a path id (or a body that names a resource),
``409`` where state can conflict and ``413`` where there is a body. The models only
describe: bodies are sent as the handlers build them (no route re-validates through a
declared model), and the bodies a short walk through the service answers match their
schemas strictly (no member the schema does not declare, no type it does not allow).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs  # installed with schemathesis (the fuzz tests)
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from tests.api.v1_server import running

from healthtwin.api.schemas import OPEN_BODIES, ResponseBody

#: Where state can conflict: an id taken, a decision made, a result before success, a
#: move on a session that has ended or is still being played, a job that has finished.
CONFLICTS = {
    ("post", "/api/v1/twins"),
    ("post", "/api/v1/recommendations/{recommendation_id}/accept"),
    ("post", "/api/v1/recommendations/{recommendation_id}/override"),
    ("post", "/api/v1/jobs/{job_id}/cancel"),
    ("get", "/api/v1/jobs/{job_id}/result"),
    ("get", "/api/v1/scenarios/{job_id}/results"),
    ("get", "/api/v1/regions/{job_id}"),
    ("get", "/api/v1/worlds/{job_id}/results"),
    ("get", "/api/v1/federated-runs/{job_id}/results"),
    ("post", "/api/v1/hospitals"),
    ("get", "/api/v1/hospitals/{hospital_id}/results"),
    ("post", "/api/v1/education/sessions"),
    ("post", "/api/v1/education/sessions/{session_id}/actions"),
    ("post", "/api/v1/education/sessions/{session_id}/requests"),
    ("post", "/api/v1/education/sessions/{session_id}/advance"),
    ("post", "/api/v1/education/sessions/{session_id}/debrief"),
    ("post", "/api/v1/education/debriefs/{job_id}/cancel"),
    ("get", "/api/v1/education/sessions/{session_id}/report"),
}
#: Operations without a path id that can still answer 404 (a body naming a resource).
NOT_FOUND_BY_BODY = {("post", "/api/v1/twins")}
_PARAM = re.compile(r"\{[^}]+\}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FastAPI]]:
    with running(tmp_path_factory.mktemp("openapi-responses")) as (root, _, app):
        yield root, app


@pytest.fixture(scope="module")
def app(served: tuple[str, FastAPI]) -> FastAPI:
    return served[1]


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in spec["paths"].items()
        if path.startswith("/api/v1")
        for method, operation in operations.items()
    ]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_every_v1_success_response_has_a_schema_with_properties(app: FastAPI) -> None:
    spec = app.openapi()
    operations = _operations(spec)
    assert len(operations) >= 58, len(operations)
    bare = []
    for method, path, operation in operations:
        successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert successes, (method, path)
        for status, response in successes.items():
            for media, content in response["content"].items():
                schema = _resolve(spec, content["schema"])
                if not schema.get("properties"):
                    bare.append((method, path, status, media))
                elif (method, path) in OPEN_BODIES:
                    assert schema.get("additionalProperties") is True, (method, path)
    assert bare == []


def test_open_bodies_are_real_operations_with_a_reason(app: FastAPI) -> None:
    spec = app.openapi()
    known = {(method, path) for method, path, _ in _operations(spec)}
    assert set(OPEN_BODIES) <= known
    assert all(len(reason) > 20 for reason in OPEN_BODIES.values())


def test_404_409_413_are_declared_only_where_they_can_happen(app: FastAPI) -> None:
    spec = app.openapi()
    wrong = []
    for method, path, operation in _operations(spec):
        declared = set(operation["responses"])
        expected = {
            "404": "{" in path or (method, path) in NOT_FOUND_BY_BODY,
            "409": (method, path) in CONFLICTS,
            "413": "requestBody" in operation,
        }
        wrong += [(method, path, s) for s, wanted in expected.items() if (s in declared) != wanted]
        # Every operation keeps the statuses any request can get.
        assert {"400", "429", "default"} <= declared, (method, path)
    assert wrong == []


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every API route, descending into included routers (FastAPI >= 0.13x wraps them)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def test_the_declared_models_describe_bodies_without_reserializing_them(app: FastAPI) -> None:
    """No route answers through a declared model: its body is sent as its handler built it."""
    routes = [r for r in _routes(app.routes) if r.path.startswith("/api/v1")]
    assert len(routes) >= 57
    for route in routes:
        model = route.response_model
        assert not (isinstance(model, type) and issubclass(model, ResponseBody)), route.path


def _strict(node: Any) -> Any:
    """``node`` with every object of declared properties closed to other members."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


class _Checker:
    """Sends requests and checks each success body against its declared schema, strictly."""

    def __init__(self, client: httpx.Client, spec: dict[str, Any]) -> None:
        self.client = client
        self.spec = spec
        self.components = _strict(copy.deepcopy(spec["components"]))
        self.templates = [(m, p) for m, p, _ in _operations(spec)]
        self.checked: set[tuple[str, str]] = set()
        self.errors: list[tuple[str, str, str]] = []

    def _template(self, method: str, url: str) -> str:
        path = url.split("?", 1)[0]
        found = [
            p
            for m, p in self.templates
            if m == method and re.fullmatch(_PARAM.sub("[^/]+", p), path)
        ]
        return min(found, key=lambda p: p.count("{"))

    def call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = self.client.request(method.upper(), url, **kwargs)
        assert 200 <= response.status_code < 300, (method, url, response.text[:500])
        template = self._template(method, url)
        declared = self.spec["paths"][template][method]["responses"][str(response.status_code)]
        schema = declared["content"]["application/json"]["schema"]
        body: dict[str, Any] = response.json()
        validator = jsonschema_rs.validator_for({**schema, "components": self.components})
        for error in validator.iter_errors(body):
            self.errors.append((template, str(list(error.instance_path)), error.message[:200]))
        self.checked.add((method, template))
        return body


def test_success_bodies_match_their_declared_schemas(served: tuple[str, FastAPI]) -> None:
    root, app = served
    with httpx.Client(base_url=root, timeout=60) as client:
        check = _Checker(client, app.openapi())
        twin = check.call("post", "/api/v1/twins", json={"members": 8, "seed": 1})["twin_id"]
        base = f"/api/v1/twins/{twin}"
        check.call("post", f"{base}/observations", json={"t_min": 5, "glucose_mg_dl": 150})
        check.call("post", f"{base}/events", json={"t_min": 6, "meal_g": 20, "bolus_u": 1})
        vitals = {
            "t_min": 7,
            "respiratory_rate_per_min": 22,
            "spo2_percent": 95,
            "temperature_c": 38.3,
            "systolic_bp_mm_hg": 105,
            "heart_rate_per_min": 96,
            "consciousness": "A",
        }
        check.call("post", f"{base}/vitals", json=vitals)
        check.call("get", f"{base}/vitals")
        check.call("get", f"{base}/news2")
        check.call("get", base)
        check.call("get", f"{base}/state")
        check.call("get", "/api/v1/twins")
        check.call("get", f"{base}/forecast", params={"horizon_min": 30})
        plans = {"plans": {"none": {}, "bolus": {"meal_g": 40, "bolus_u": 3}}, "horizon_min": 30}
        check.call("post", f"{base}/what-if", json=plans)
        ask = {"meal_g": 40, "boluses": [2, 4], "horizon_min": 60}
        first = check.call("post", f"{base}/recommendations", json=ask)["id"]
        second = check.call("post", f"{base}/recommendations", json=ask)["id"]
        check.call("get", f"{base}/recommendations")
        check.call("get", f"/api/v1/recommendations/{first}")
        override = {"reason": "smaller meal", "value": {"meal_g": 20, "bolus_u": 1}}
        check.call("post", f"/api/v1/recommendations/{first}/override", json=override)
        if check.call("get", f"/api/v1/recommendations/{second}")["value"]["plan"] is not None:
            check.call("post", f"/api/v1/recommendations/{second}/accept", json={"reason": "ok"})

        series = {"country": "FR", "disease": "flu", "start": "2024-01-01", "counts": [3.0] * 12}
        check.call("post", "/api/v1/alarms/series", json=series)
        week = {"week": "2024-03-25", "counts": [{"country": "FR", "disease": "flu", "count": 9}]}
        check.call("post", "/api/v1/alarms/weeks", json=week)
        check.call("get", "/api/v1/alarms")

        for view in ("audit", "cards", "consents"):
            check.call("get", f"/api/v1/governance/{view}")

        hospital = check.call("post", "/api/v1/hospitals", json={"preset": "demo"})["hospital_id"]
        check.call("get", "/api/v1/hospitals")
        check.call("get", f"/api/v1/hospitals/{hospital}")
        for listing in ("jobs", "scenarios", "worlds", "federated-runs"):
            check.call("get", f"/api/v1/{listing}")

        check.call("get", "/api/v1/education/cases", params={"locale": "de"})
        session = check.call(
            "post", "/api/v1/education/sessions", json={"case_id": "hypoglycaemia"}
        )
        edu = f"/api/v1/education/sessions/{session['session_id']}"
        check.call("get", edu)
        check.call("post", f"{edu}/advance", json={"minutes": 2})

    assert check.errors == []
    assert len(check.checked) >= 33, sorted(check.checked)


def test_declared_conflicts_and_missing_resources_happen(served: tuple[str, FastAPI]) -> None:
    """A sample of the declared 404s and 409s, answered as declared."""
    root, app = served
    spec = app.openapi()
    with httpx.Client(base_url=root, timeout=60) as client:
        twin = client.post("/api/v1/twins", json={"members": 8}).json()["twin_id"]
        hospital = client.post("/api/v1/hospitals", json={"preset": "demo"}).json()
        cases = [
            ("post", "/api/v1/twins", {"json": {"twin_id": twin, "members": 8}}, 409),
            ("post", "/api/v1/twins", {"json": {"patient_id": "nobody", "members": 8}}, 404),
            ("post", "/api/v1/hospitals", {"json": _demo(hospital)}, 409),
            ("get", f"/api/v1/hospitals/{hospital['hospital_id']}/results", {}, 409),
            ("post", "/api/v1/jobs/job-unknown/cancel", {}, 404),
        ]
        wrong = []
        for method, url, kwargs, status in cases:
            answered = client.request(method.upper(), url, **kwargs).status_code
            template = next(
                p
                for m, p, _ in _operations(spec)
                if m == method and re.fullmatch(_PARAM.sub("[^/]+", p), url)
            )
            declared = spec["paths"][template][method]["responses"]
            if answered != status or str(status) not in declared:
                wrong.append((method, url, answered))
    assert wrong == []


def _demo(hospital: dict[str, Any]) -> dict[str, Any]:
    return {"preset": "demo", "hospital_id": hospital["hospital_id"]}
