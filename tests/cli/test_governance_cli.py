"""``healthtwin governance``: cards, kill switches, clinicians' decisions and audit checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthtwin.cli import main
from healthtwin.store import open_store


def test_cards_list_every_model_and_render_one(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["governance", "cards"]) == 0
    listing = capsys.readouterr().out
    assert "rt-cori@" in listing
    assert "treatment-recommender@" in listing
    out = tmp_path / "rt.json"
    assert main(["governance", "cards", "--model", "rt-cori", "--format", "fhir",
                 "--out", str(out)]) == 0  # fmt: skip
    assert json.loads(out.read_text())["resourceType"] == "Composition"


def test_recommendations_wait_for_a_clinician_and_obey_the_kill_switch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fhir.resources.R4B.provenance import Provenance

    from healthtwin.governance.signing import generate_signing_key, save_signing_key

    db = f"sqlite:///{tmp_path / 'twin.db'}"
    key = save_signing_key(generate_signing_key(), tmp_path / "key.pem")
    recommend = ["patient", "recommend", "--meal", "40", "--members", "8", "--hours", "2",
                 "--database", db, "--actor", "dr-a", "--signing-key", str(key)]  # fmt: skip
    assert main(recommend) == 0
    with open_store(db) as store:
        [proposed] = store.oversight().recommendations()
        provenance = store.read("Provenance", f"prov-{proposed.id}")
    assert proposed.status == "proposed"
    assert proposed.final_value is None
    # Signed provenance of the derived datum: its target, the model and the signature.
    Provenance.model_validate(provenance)
    assert provenance["target"][0]["reference"] == f"GuidanceResponse/{proposed.id}"
    assert provenance["signature"][0]["data"]
    capsys.readouterr()

    decide = ["governance", "decide", "--recommendation", proposed.id, "--actor", "dr-b",
              "--override", '{"bolus_u": 2.5}', "--reason", "walk", "--database", db]  # fmt: skip
    assert main(decide) == 0
    with open_store(db) as store:
        decided = store.oversight().recommendation(proposed.id)
    assert decided.status == "overridden"
    assert decided.final_value == {"bolus_u": 2.5}

    assert main(["governance", "disable", "--model", "treatment-recommender",
                 "--reason", "safety review", "--actor", "cmo", "--database", db]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(recommend) == 2
    assert "treatment-recommender" in capsys.readouterr().err
    assert main(["governance", "enable", "--model", "treatment-recommender",
                 "--reason", "review done", "--actor", "cmo", "--database", db]) == 0  # fmt: skip

    assert main(["governance", "verify-audit", "--database", db]) == 0
    assert "audit log intact" in capsys.readouterr().out


def test_decide_needs_one_choice(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    code = main(["governance", "decide", "--recommendation", "r1", "--actor", "a",
                 "--database", db])  # fmt: skip
    assert code == 2
    assert "exactly one of --accept or --override" in capsys.readouterr().err


def test_fairness_report_of_a_survival_model_on_shipped_data(tmp_path: Path) -> None:
    out = tmp_path / "fairness.json"
    args = ["governance", "fairness", "--dataset", "whas500", "--model", "cox",
            "--by", "gender,age", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert [c["column"] for c in report["columns"]] == ["gender", "age"]
    assert report["n"] == 412


def test_fairness_names_unknown_columns(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["governance", "fairness", "--dataset", "whas500", "--by", "zip",
            "--out", str(tmp_path / "f.md")]  # fmt: skip
    assert main(args) == 2
    assert "unknown columns ['zip']" in capsys.readouterr().err


def test_fairness_report_of_a_progression_model(tmp_path: Path) -> None:
    out = tmp_path / "progression.json"
    args = ["governance", "fairness", "--dataset", "diabetes", "--model", "ridge",
            "--by", "sex,age", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["model"].startswith("progression-ridge")
    assert report["n"] == 442
    assert [c["column"] for c in report["columns"]] == ["sex", "age"]
