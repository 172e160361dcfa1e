"""What a long scenario run sees of whoever runs it, and what it leaves.

A run that takes seconds to minutes (a hospital forecast, a region ensemble, a federated
training run, a cohort evaluation) reports its progress and lets itself be stopped
between units of work through a :class:`Reporter`: ``progress(fraction, message)`` and
``check()``, which raises when the run should stop. The service's job context satisfies
the protocol, so the faces pass their own context in and the scenarios know nothing of
jobs or HTTP; :class:`SilentReporter` runs to the end without reporting. A run leaves a
:class:`RunOutput`: a JSON-ready summary and named numeric arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy.typing as npt

__all__ = ["Reporter", "RunOutput", "SilentReporter"]


class Reporter(Protocol):
    """Progress reports and stop checks of a running scenario."""

    def check(self) -> None:
        """Raise (any exception the caller chooses) if the run should stop now."""

    def progress(self, fraction: float, message: str = "") -> None:
        """Report the share of the work done, in ``[0, 1]``, and what is being done."""


class SilentReporter:
    """A reporter that never stops a run and ignores its progress.

    Examples
    --------
    >>> reporter = SilentReporter()
    >>> reporter.check(); reporter.progress(0.5, "half way")
    """

    def check(self) -> None:
        """Never stop."""

    def progress(self, fraction: float, message: str = "") -> None:
        """Ignore the report."""


@dataclass(frozen=True)
class RunOutput:
    """What a run leaves: a JSON-ready ``summary`` and named numeric ``arrays``.

    Examples
    --------
    >>> RunOutput({"kind": "demo"}).arrays
    {}
    """

    summary: dict[str, Any]
    arrays: Mapping[str, npt.ArrayLike] = field(default_factory=dict)
