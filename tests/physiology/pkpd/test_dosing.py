"""NONMEM-style dose records: CSV validation, ADDL expansion, conversion to inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.physiology.pkpd import (
    DoseRecord,
    Route,
    expand_doses,
    make_pkpd_model,
    observation_times,
    parse_dosing_csv,
    read_dosing_csv,
    records_to_inputs,
    split_at_resets,
)

ROUTES = [Route(1, "central", "bolus_mg", "infusion_mg_per_min")]
ORAL_ROUTES = [
    Route(1, "depot", "oral_mg"),
    *[Route(2, "central", "bolus_mg", "infusion_mg_per_min")],
]


def test_a_full_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "dosing.csv"
    path.write_text(
        "ID,TIME,AMT,RATE,CMT,EVID,II,ADDL,DV\n"
        "1,0,140,0,1,1,0,0,.\n"
        "1,1,600,10,1,1,.,.,.\n"
        "1,30,.,.,1,0,.,.,3.2\n"
    )
    recs = read_dosing_csv(path)
    assert [(r.time_min, r.amt, r.rate, r.evid) for r in recs] == [
        (0.0, 140.0, 0.0, 1),
        (1.0, 600.0, 10.0, 1),
        (30.0, 0.0, 0.0, 0),
    ]
    assert observation_times(recs) == (30.0,)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("0,-5,0,1,1", r"row 1, column AMT: amount must be >= 0, got -5\.0"),
        ("0,5,0,1,1\n10,5,0,1,7", r"row 2, column EVID: must be 0, 1, 2, 3 or 4, got 7"),
        ("0,0,10,1,1", r"row 1, column AMT: a dose \(EVID 1\) needs AMT > 0"),
        ("0,0,10,1,0", r"row 1, column AMT: EVID 0 is not a dose, so AMT, RATE and ADDL"),
        ("0,5,0,1,0", r"row 1, column AMT: EVID 0 is not a dose"),
        ("0,5,-1,1,1", r"row 1, column RATE: must be >= 0, got -1\.0"),
        ("0,5x,0,1,1", r"row 1, column AMT: could not read '5x' as a number"),
        ("abc,5,0,1,1", r"row 1, column TIME: could not read 'abc'"),
        ("0,5,0,1.5,1", r"row 1, column CMT: must be an integer, got 1\.5"),
        ("0,5,0,0,1", r"row 1, column CMT: must be >= 1, got 0"),
        ("0,5,0,1", r"row 1: has 4 cells but the header has 5 columns"),
        ("nan,5,0,1,1", r"row 1, column TIME: must be finite"),
    ],
)
def test_bad_rows_are_named_with_their_column(body: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        parse_dosing_csv("TIME,AMT,RATE,CMT,EVID\n" + body + "\n")


def test_addl_needs_an_interval_and_header_needs_time() -> None:
    with pytest.raises(InvalidInputError, match=r"row 1, column II: ADDL=2 needs"):
        parse_dosing_csv("TIME,AMT,ADDL\n0,5,2\n")
    with pytest.raises(InvalidInputError, match="needs a TIME column"):
        parse_dosing_csv("AMT\n5\n")
    with pytest.raises(InvalidInputError, match="empty"):
        parse_dosing_csv("")
    with pytest.raises(InvalidInputError, match="2 subjects"):
        parse_dosing_csv("ID,TIME,AMT\n1,0,5\n2,0,5\n")


def test_unknown_compartment_names_the_row_and_the_valid_ones() -> None:
    recs = parse_dosing_csv("TIME,AMT,CMT\n0,5,1\n3,5,3\n")
    with pytest.raises(
        InvalidInputError, match=r"row 2, column CMT: unknown compartment 3; .*1 \(central\)"
    ):
        records_to_inputs(recs, ROUTES)
    with pytest.raises(
        InvalidInputError, match=r"row 1, column RATE: compartment 1 \(depot\) takes no"
    ):
        records_to_inputs(parse_dosing_csv("TIME,AMT,RATE,CMT\n0,5,1,1\n"), ORAL_ROUTES)


def test_addl_expands_into_doses_ii_apart() -> None:
    recs = expand_doses([DoseRecord(10.0, amt=5.0, ii_min=60.0, addl=3), DoseRecord(15.0, amt=1.0)])
    assert [(r.time_min, r.amt) for r in recs] == [
        (10.0, 5.0),
        (15.0, 1.0),
        (70.0, 5.0),
        (130.0, 5.0),
        (190.0, 5.0),
    ]
    assert all(r.addl == 0 for r in recs)


def test_records_become_events_and_summed_rates() -> None:
    recs = [
        DoseRecord(0.0, amt=100.0),
        DoseRecord(0.0, amt=20.0),
        DoseRecord(10.0, amt=100.0, rate=10.0),  # 10..20
        DoseRecord(15.0, amt=50.0, rate=2.0, ii_min=60.0, addl=1),  # 15..40 and 75..100
    ]
    plan = records_to_inputs(recs, ROUTES)
    ev = plan.events["bolus_mg"]
    assert ev.times.tolist() == [0.0, 0.0]
    assert ev.amounts.sum() == 120.0
    rate = plan.rates["infusion_mg_per_min"]
    t = np.array([5.0, 12.0, 17.0, 30.0, 50.0, 80.0, 120.0])
    assert rate.at(t)[0].tolist() == [0.0, 10.0, 12.0, 2.0, 0.0, 2.0, 0.0]


def test_oral_doses_go_to_the_depot_by_nonmem_numbering() -> None:
    model = make_pkpd_model("pk-schnider")
    assert [r.cmt for r in model.routes] == [1]
    plan = records_to_inputs(parse_dosing_csv("TIME,AMT,CMT\n0,5,1\n0,7,2\n"), ORAL_ROUTES)
    assert plan.events["oral_mg"].amounts.tolist() == [[5.0]]
    assert plan.events["bolus_mg"].amounts.tolist() == [[7.0]]


def test_resets_split_the_records() -> None:
    recs = [
        DoseRecord(0.0, amt=10.0, rate=1.0),
        DoseRecord(5.0, evid=3),
        DoseRecord(6.0, amt=3.0),
        DoseRecord(9.0, amt=4.0, evid=4),
        DoseRecord(12.0, evid=2),
    ]
    with pytest.raises(InvalidInputError, match="reset"):
        records_to_inputs(recs, ROUTES)
    parts = split_at_resets(recs)
    assert [start for start, _ in parts] == [-np.inf, 5.0, 9.0]
    assert [[(r.time_min, r.evid) for r in part] for _, part in parts] == [
        [(0.0, 1)],
        [(6.0, 1)],
        [(9.0, 1), (12.0, 2)],
    ]
    records_to_inputs(parts[2][1], ROUTES)
