"""Twin states: arrays round trip, "as of t" queries, bitemporal corrections, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, NotFoundError, ReplayError
from healthtwin.store import Store
from healthtwin.store.twin_states import decode_arrays, encode_arrays

T0 = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def save(store: Store, hours: float, value: float, recorded: datetime | None = None) -> None:
    store.save_twin_state(
        "twin-1",
        model="uva-padova",
        model_version="2008.1",
        valid_time=T0 + hours * HOUR,
        arrays={"x": np.full((4, 13), value), "members": np.arange(4)},
        metadata={"assimilated": [f"obs-{hours}"]},
        recorded_time=recorded,
    )


def test_arrays_and_metadata_round_trip(store: Store) -> None:
    rng = np.random.default_rng(7)
    arrays = {
        "state": rng.normal(size=(500, 13)),
        "flags": rng.random(500) < 0.5,
        "counts": rng.integers(0, 9, size=(3, 2), dtype=np.int32),
        "scalar": np.float32(1.5),
    }
    saved = store.save_twin_state(
        "twin-9",
        model="hovorka",
        model_version="1",
        valid_time=T0,
        arrays=arrays,
        metadata={"seed": 7, "note": "after breakfast"},
    )
    (back,) = store.twin_state_history("twin-9")
    for name, array in arrays.items():
        assert back.arrays[name].dtype == np.asarray(array).dtype
        np.testing.assert_array_equal(back.arrays[name], array)
    assert back.metadata == {"seed": 7, "note": "after breakfast"}
    assert (back.model, back.model_version, back.valid_time) == ("hovorka", "1", T0)
    assert back.recorded_time == saved.recorded_time
    assert abs(back.recorded_time - datetime.now(UTC)) < timedelta(minutes=1)


def test_as_of_picks_the_latest_state_valid_at_or_before_t(store: Store) -> None:
    for hours in (0, 1, 2):
        save(store, hours, float(hours))
    assert store.twin_state_as_of("twin-1", T0 + 1.5 * HOUR).arrays["x"][0, 0] == 1.0
    assert store.twin_state_as_of("twin-1", T0 + 2 * HOUR).arrays["x"][0, 0] == 2.0
    assert store.twin_state_as_of("twin-1", T0 + 100 * HOUR).valid_time == T0 + 2 * HOUR
    with pytest.raises(ReplayError, match=r"no state valid at or before.*earliest state is valid"):
        store.twin_state_as_of("twin-1", T0 - HOUR)
    with pytest.raises(NotFoundError, match="no state was ever saved for twin 'twin-2'"):
        store.twin_state_as_of("twin-2", T0)
    with pytest.raises(NotFoundError):
        store.twin_state_history("twin-2")


def test_corrections_are_kept_beside_what_was_known_before(store: Store) -> None:
    first_seen = T0 + 1.1 * HOUR
    corrected = T0 + 3 * HOUR
    save(store, 1, 10.0, recorded=first_seen)
    save(store, 1, 11.0, recorded=corrected)  # a late observation re-estimated hour 1
    assert store.twin_state_as_of("twin-1", T0 + HOUR).arrays["x"][0, 0] == 11.0
    then = store.twin_state_as_of("twin-1", T0 + HOUR, recorded_at=T0 + 2 * HOUR)
    assert then.arrays["x"][0, 0] == 10.0
    with pytest.raises(ReplayError, match="as recorded by"):
        store.twin_state_as_of("twin-1", T0 + HOUR, recorded_at=T0 + HOUR)
    history = store.twin_state_history("twin-1")
    assert [(s.recorded_time, s.arrays["x"][0, 0]) for s in history] == [
        (first_seen, 10.0),
        (corrected, 11.0),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arrays": {"x": np.array([object()])}}, "has dtype object"),
        ({"arrays": {"x": np.array(["a"])}}, "has dtype <U1"),
        ({"arrays": {"a/b": np.zeros(2)}}, "state array name 'a/b' is not allowed"),
        ({"valid_time": datetime(2024, 1, 1)}, "valid_time 2024-01-01T00:00:00 has no time zone"),
        ({"model": ""}, "model must be a non-empty string"),
        ({"model_version": "v" * 65}, "model_version must be a non-empty string of at most 64"),
        ({"metadata": {"x": np.zeros(2)}}, "metadata of twin twin-1 cannot be stored as JSON"),
    ],
)
def test_bad_states_are_refused(store: Store, kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "model": "m",
        "model_version": "1",
        "valid_time": T0,
        "arrays": {"x": np.zeros(3)},
    }
    with pytest.raises(InvalidInputError, match=message):
        store.save_twin_state("twin-1", **{**arguments, **kwargs})  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        store.twin_state_history("twin-1")


def test_state_bytes_never_need_pickle() -> None:
    data = encode_arrays({"x": np.arange(6).reshape(2, 3), "t": np.array(["2024-01-01"], "M8[s]")})
    back = decode_arrays(data)
    assert back["x"].shape == (2, 3)
    assert back["t"].dtype == np.dtype("M8[s]")


def test_twin_ids_follow_the_fhir_id_grammar(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="Twin id 'bad id' is not a FHIR id"):
        store.save_twin_state("bad id", model="m", model_version="1", valid_time=T0, arrays={})
