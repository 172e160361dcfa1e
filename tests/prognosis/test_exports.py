"""The prognosis package's lazily resolved public names."""

from __future__ import annotations

import pytest

import healthtwin.prognosis as prognosis


@pytest.mark.parametrize("name", prognosis.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(prognosis, name) is not None


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'deep_survival'"):
        prognosis.deep_survival  # noqa: B018
