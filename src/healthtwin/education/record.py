"""What a training session produced, in canonical units and free of any locale.

These records are the contract between the engine that plays a case
(:mod:`healthtwin.education.engine`), the scorer and debrief, and the faces (CLI, API,
dashboard) that render them in the learner's language. Nothing here is translated: text is
an English message id with parameters, and every quantity carries its canonical unit; the
localisation layer (:mod:`healthtwin.education.i18n`) turns them into what a learner reads.
Because a record holds no locale-specific text or unit, the same actions give the same
record, and so the same score, in every locale.

Canonical units (the suffix of a measure name says its unit):

============================  ==========
measure                       unit
============================  ==========
``glucose_mmol_per_l``        mmol/L
``ketones_mmol_per_l``        mmol/L
``potassium_mmol_per_l``      mmol/L
``bicarbonate_mmol_per_l``    mmol/L
``lactate_mmol_per_l``        mmol/L
``ph``                        1
``map_mmhg``, ``sbp_mmhg``    mmHg
``hr_per_min``                /min
``resp_rate_per_min``         /min
``spo2_percent``              %
``temp_c``                    degC
``bis``                       1
``gcs``                       1
``urine_ml_per_h``            mL/h
``haemoglobin_g_per_dl``      g/dL
``crystalloid_given_ml``      mL
============================  ==========
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError

__all__ = [
    "ActionTaken",
    "InfoRequest",
    "Message",
    "MessageKind",
    "Quantity",
    "SessionRecord",
]

MessageKind = Literal["narrative", "result", "alert", "info", "feedback"]


@dataclass(frozen=True)
class Quantity:
    """A value in its canonical unit (``"mmol/L"``, ``"mmHg"``, ``"/min"``, ``"%"``...).

    Examples
    --------
    >>> Quantity(4.2, "mmol/L").value
    4.2
    """

    value: float
    unit: str


@dataclass(frozen=True)
class Message:
    """Learner-facing text as an English message id plus parameters.

    ``msgid`` may hold ``str.format`` placeholders (``"Glucose is {glucose}."``) filled
    from ``params``: a :class:`Quantity` is converted to the learner's units, a float is
    formatted as a locale number, a string is inserted as is (drug ids are written
    ``"drug:<generic id>"`` and rendered by the drug-name layer). The cultural
    placeholders ``{name}``, ``{relative}`` and ``{diet}`` are filled by the culture layer.

    Examples
    --------
    >>> Message("Glucose is {glucose}.", {"glucose": Quantity(2.1, "mmol/L")}, "result").kind
    'result'
    """

    msgid: str
    params: Mapping[str, str | float | Quantity] = field(default_factory=dict)
    kind: MessageKind = "narrative"
    t_min: float = 0.0


@dataclass(frozen=True)
class ActionTaken:
    """An action the learner took at ``t_min`` (minutes from the case's start).

    ``dose`` is in the action's canonical unit (declared in the case), ``None`` for actions
    without a dose.
    """

    t_min: float
    action_id: str
    dose: float | None = None


@dataclass(frozen=True)
class InfoRequest:
    """Information requested at ``t_min``; its result is shown at ``ready_min``."""

    t_min: float
    info_id: str
    ready_min: float


@dataclass(frozen=True)
class SessionRecord:
    """Everything a played session produced, enough to score and to replay it.

    ``times_min`` has shape ``(k,)``; each array in ``measures`` has the same shape and its
    key names the canonical unit (see the module's table). ``events`` are the case
    timeline's events as ``(t_min, event_id)`` in the order they happened.

    Examples
    --------
    >>> import numpy as np
    >>> rec = SessionRecord(case_id="demo", case_version=1, seed=0,
    ...     actions=(ActionTaken(5.0, "give_dextrose_iv", 15.0),), requests=(),
    ...     times_min=np.array([0.0, 5.0]), measures={"glucose_mmol_per_l": np.array([2.0, 2.1])},
    ...     events=(), ended_min=5.0)
    >>> SessionRecord.from_json(rec.to_json()).actions[0].dose
    15.0

    ``died_min`` is the minute the patient died (``None`` if alive at the end) and
    ``started_at`` the wall-clock start of the session as ISO 8601 text (``None`` for
    records written before it was kept, and for replays); both are optional in the JSON,
    so older session files still load.
    """

    case_id: str
    case_version: int
    seed: int
    actions: tuple[ActionTaken, ...]
    requests: tuple[InfoRequest, ...]
    times_min: FloatArray
    measures: Mapping[str, FloatArray]
    events: tuple[tuple[float, str], ...]
    ended_min: float
    died_min: float | None = None
    started_at: str | None = None

    def __post_init__(self) -> None:
        n = np.shape(self.times_min)
        for name, values in self.measures.items():
            if np.shape(values) != n:
                raise InvalidInputError(
                    f"measure {name!r} has shape {np.shape(values)} but times_min has {n}; "
                    "record every measure at every time"
                )

    def to_json(self) -> str:
        """The record as JSON (what ``healthtwin educate grade`` reads)."""
        doc: dict[str, Any] = {
            "case_id": self.case_id,
            "case_version": self.case_version,
            "seed": self.seed,
            "actions": [
                {"t_min": a.t_min, "action_id": a.action_id, "dose": a.dose} for a in self.actions
            ],
            "requests": [
                {"t_min": r.t_min, "info_id": r.info_id, "ready_min": r.ready_min}
                for r in self.requests
            ],
            "times_min": np.asarray(self.times_min, dtype=float).tolist(),
            "measures": {k: np.asarray(v, dtype=float).tolist() for k, v in self.measures.items()},
            "events": [[t, e] for t, e in self.events],
            "ended_min": self.ended_min,
        }
        if self.died_min is not None:
            doc["died_min"] = self.died_min
        if self.started_at is not None:
            doc["started_at"] = self.started_at
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> SessionRecord:
        """Read a record written by :meth:`to_json`, with a clear error if it is not one."""
        try:
            doc = json.loads(text)
            return cls(
                case_id=str(doc["case_id"]),
                case_version=int(doc["case_version"]),
                seed=int(doc["seed"]),
                actions=tuple(
                    ActionTaken(
                        float(a["t_min"]),
                        str(a["action_id"]),
                        None if a.get("dose") is None else float(a["dose"]),
                    )
                    for a in doc["actions"]
                ),
                requests=tuple(
                    InfoRequest(float(r["t_min"]), str(r["info_id"]), float(r["ready_min"]))
                    for r in doc["requests"]
                ),
                times_min=np.asarray(doc["times_min"], dtype=float),
                measures={str(k): np.asarray(v, dtype=float) for k, v in doc["measures"].items()},
                events=tuple((float(t), str(e)) for t, e in doc["events"]),
                ended_min=float(doc["ended_min"]),
                died_min=None if doc.get("died_min") is None else float(doc["died_min"]),
                started_at=None if doc.get("started_at") is None else str(doc["started_at"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise InvalidInputError(
                f"not a healthtwin session record ({type(err).__name__}: {err}); pass the "
                "session.json written by 'healthtwin educate play'"
            ) from err
