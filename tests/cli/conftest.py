"""Fixtures shared by the command-line tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from healthtwin.cli.output import Output, ProgressTask


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[ProgressTask]:
    """Every progress bar a command opens, with its total and how far it got."""
    opened: list[ProgressTask] = []
    original = Output.progress

    @contextmanager
    def recording(
        self: Output, description: str, total: float | None = None
    ) -> Iterator[ProgressTask]:
        with original(self, description, total) as bar:
            opened.append(bar)
            yield bar

    monkeypatch.setattr(Output, "progress", recording)
    return opened
