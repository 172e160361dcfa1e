"""A file of vital signs scored row by row: NEWS2 (RCP 2017), qSOFA and MEWS.

:func:`score_vitals_file` reads a vitals CSV (one observation a row) and scores every row;
the :class:`ScoredVitals` it returns counts observations per NEWS2 clinical risk band (with
the response each band calls for) and writes the scored rows as CSV, to a file or a text
stream.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from healthtwin.errors import InvalidInputError
from healthtwin.physiology.scores import (
    News2Band,
    VitalsScores,
    read_vitals_csv,
    score_vitals,
    write_scores_csv,
)

__all__ = ["BandCount", "ScoredVitals", "score_vitals_file"]


@dataclass(frozen=True)
class BandCount:
    """How many observations fall in one NEWS2 band, and the response it calls for."""

    label: str
    observations: int
    response: str


@dataclass(frozen=True)
class ScoredVitals:
    """The scores of every row of a vitals file."""

    scores: VitalsScores

    @property
    def observations(self) -> int:
        """Number of scored rows."""
        return int(self.scores.news2.total.size)

    def bands(self) -> list[BandCount]:
        """Observations per NEWS2 band, lowest risk first.

        Examples
        --------
        >>> from pathlib import Path
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "v.csv").write_text(
        ...     "respiratory_rate_per_min,spo2_percent,on_oxygen,systolic_bp_mm_hg,"
        ...     "heart_rate_per_min,consciousness,temperature_c\\n18,97,air,120,80,alert,37.1\\n")
        >>> [(b.label, b.observations) for b in score_vitals_file(folder / "v.csv").bands()][0]
        ('low', 1)
        """
        band = self.scores.news2.band
        return [BandCount(b.label, int(np.sum(band == b)), b.trigger) for b in News2Band]

    def write_csv(self, target: Path | TextIO) -> None:
        """Write the scored rows as CSV to a file (its folder is made) or a text stream."""
        if isinstance(target, Path):
            target.parent.mkdir(parents=True, exist_ok=True)
        write_scores_csv(self.scores, target)

    def csv_text(self) -> str:
        """The scored rows as CSV text."""
        text = io.StringIO()
        write_scores_csv(self.scores, text)
        return text.getvalue()


def score_vitals_file(path: Path) -> ScoredVitals:
    """Score every row of a vitals CSV.

    Raises
    ------
    InvalidInputError
        If there is no file at ``path`` or a row holds impossible vital signs.

    Examples
    --------
    >>> score_vitals_file(Path("no-such-file.csv"))
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: no vitals file at no-such-file.csv; ...
    """
    if not path.is_file():
        raise InvalidInputError(f"no vitals file at {path}; give the path of a CSV file")
    return ScoredVitals(score_vitals(read_vitals_csv(path)))
