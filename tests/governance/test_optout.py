"""The opt-out registry: secondary uses only, specialisations covered, time of effect."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.governance.optout import OptOut, OptOutRegistry
from healthtwin.governance.purpose import PURPOSES, SECONDARY_USE_PURPOSES, ancestors

SINCE = datetime(2025, 1, 1, tzinfo=UTC)


def test_default_opt_out_covers_every_secondary_use_and_no_primary_one() -> None:
    registry = OptOutRegistry([OptOut("p1")])
    for code in PURPOSES:
        secondary = not SECONDARY_USE_PURPOSES.isdisjoint(ancestors(code))
        assert registry.is_opted_out("p1", code) == secondary, code
        assert not registry.is_opted_out("p2", code)
    assert registry.is_opted_out("p1", "CLINTRCHPC")
    assert registry.is_opted_out("p1", "HTEST")
    assert not registry.is_opted_out("p1", "ETREAT")


def test_partial_opt_out_time_of_effect_and_withdrawal() -> None:
    registry = OptOutRegistry([OptOut("p1", frozenset({"HMARKT"}), since=SINCE)])
    assert registry.is_opted_out("p1", "HMARKT", at=datetime(2025, 2, 1, tzinfo=UTC))
    assert not registry.is_opted_out("p1", "HMARKT", at=datetime(2024, 12, 1, tzinfo=UTC))
    assert not registry.is_opted_out("p1", "HRESCH")
    registry.register(OptOut("p1", frozenset({"HRESCH"})))  # replaces the earlier entry
    assert registry.is_opted_out("p1", "DSRCH")
    assert not registry.is_opted_out("p1", "HMARKT")
    registry.withdraw("p1")
    assert len(registry) == 0
    assert not registry.is_opted_out("p1", "DSRCH")
    with pytest.raises(InvalidInputError, match="no opt-out to withdraw"):
        registry.withdraw("p1")


def test_mask_and_json_round_trip() -> None:
    registry = OptOutRegistry([OptOut("a"), OptOut("c", frozenset({"PUBHLTH"}), since=SINCE)])
    ids = ["a", "b", "c"]
    assert registry.mask(ids, "HRESCH").tolist() == [True, False, False]
    assert registry.mask(ids, "THREAT").tolist() == [True, False, True]
    assert registry.mask(ids, "TREAT").tolist() == [False, False, False]
    again = OptOutRegistry.from_json(registry.to_json())
    for pid in ids:
        for code in ("HRESCH", "THREAT", "TREAT"):
            assert again.is_opted_out(pid, code) == registry.is_opted_out(pid, code)
    with pytest.raises(InvalidInputError, match="must be a list of"):
        OptOutRegistry.from_json('[{"patient": "a"}]')


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("",), "non-empty string"),
        (("p", frozenset({"TREAT"})), r"not secondary uses"),
        (("p", frozenset()), "not secondary uses"),
        (("p", frozenset({"NOPE"})), "unknown purpose"),
        (("p", SECONDARY_USE_PURPOSES, datetime(2025, 1, 1)), "no time zone"),
    ],
)
def test_malformed_opt_outs_are_refused(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        OptOut(*args)  # type: ignore[arg-type]
