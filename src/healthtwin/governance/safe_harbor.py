"""The 18 HIPAA Safe Harbor identifiers and the report of how each was handled.

HIPAA's Safe Harbor method (45 CFR 164.514(b)(2)(i), items (A)-(R)) deems data
de-identified when 18 kinds of identifiers of the individual, and of relatives, employers
or household members, are removed, and the covered entity has no actual knowledge that the
rest could identify the individual. Dates may keep their year; ZIP codes may keep their
first three digits unless the three-digit area holds 20,000 people or fewer; ages over 89
must be aggregated into one category "90 or older". A re-identification code is allowed
(164.514(c)) if it is not derived from information about the individual and the means of
re-identification are not disclosed.

:class:`SafeHarborReport` lists, for each identifier, what the de-identifier found, where
(FHIR paths or column names) and how it was handled. Shifted dates keep intervals but are
*not* Safe Harbor (they need an expert determination, 164.514(b)(1)); the report says so.
Keyed-HMAC pseudonyms are derived from the identifier they replace, so treating them as a
permitted re-identification code is the covered entity's decision: the report flags them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Any

from healthtwin.errors import InvalidInputError

__all__ = [
    "HIPAA_IDENTIFIERS",
    "FindingLog",
    "Handling",
    "HipaaIdentifier",
    "IdentifierFinding",
    "SafeHarborReport",
    "restricted_zip3",
]


class HipaaIdentifier(StrEnum):
    """The 18 identifiers of 45 CFR 164.514(b)(2)(i), by their letter."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"
    G = "G"
    H = "H"
    I = "I"  # noqa: E741 - the letter of the regulation
    J = "J"
    K = "K"
    L = "L"
    M = "M"
    N = "N"
    O = "O"  # noqa: E741
    P = "P"
    Q = "Q"
    R = "R"

    @property
    def description(self) -> str:
        """The identifier's wording, abridged from the regulation."""
        return HIPAA_IDENTIFIERS[self]


#: Letter -> description, 45 CFR 164.514(b)(2)(i)(A)-(R).
HIPAA_IDENTIFIERS: Mapping[HipaaIdentifier, str] = {
    HipaaIdentifier.A: "Names",
    HipaaIdentifier.B: "Geographic subdivisions smaller than a state (street, city, county, "
    "precinct, ZIP code except its first three digits where the area holds > 20,000 people)",
    HipaaIdentifier.C: "All elements of dates (except year) related to the individual "
    "(birth, admission, discharge, death); ages over 89 and dates indicating them",
    HipaaIdentifier.D: "Telephone numbers",
    HipaaIdentifier.E: "Fax numbers",
    HipaaIdentifier.F: "Electronic mail addresses",
    HipaaIdentifier.G: "Social security numbers",
    HipaaIdentifier.H: "Medical record numbers",
    HipaaIdentifier.I: "Health plan beneficiary numbers",
    HipaaIdentifier.J: "Account numbers",
    HipaaIdentifier.K: "Certificate/license numbers",
    HipaaIdentifier.L: "Vehicle identifiers and serial numbers, including license plates",
    HipaaIdentifier.M: "Device identifiers and serial numbers",
    HipaaIdentifier.N: "Web Universal Resource Locators (URLs)",
    HipaaIdentifier.O: "Internet Protocol (IP) address numbers",
    HipaaIdentifier.P: "Biometric identifiers, including finger and voice prints",
    HipaaIdentifier.Q: "Full face photographic images and any comparable images",
    HipaaIdentifier.R: "Any other unique identifying number, characteristic, or code",
}


class Handling(StrEnum):
    """What was done to the occurrences of one identifier."""

    NOT_PRESENT = "not present"
    REMOVED = "removed"
    GENERALISED = "generalised"
    PSEUDONYMISED = "pseudonymised"
    SHIFTED = "shifted"


#: Handlings that satisfy Safe Harbor on their own (pseudonyms are flagged separately).
_SAFE = frozenset({Handling.NOT_PRESENT, Handling.REMOVED, Handling.GENERALISED})


@dataclass(frozen=True)
class IdentifierFinding:
    """How one identifier was handled.

    Attributes
    ----------
    identifier : HipaaIdentifier
    count : int
        Occurrences found (values, not resources).
    handling : tuple of Handling
        Each way occurrences were handled, sorted; ``(NOT_PRESENT,)`` when none was found.
    locations : tuple of str
        Where they were found: FHIR paths (``Patient.telecom``) or column names, sorted.
    """

    identifier: HipaaIdentifier
    count: int
    handling: tuple[Handling, ...]
    locations: tuple[str, ...]

    @property
    def meets_safe_harbor(self) -> bool:
        """True when every occurrence was removed or generalised (or none was present)."""
        return set(self.handling) <= _SAFE


@dataclass(frozen=True)
class SafeHarborReport:
    """What de-identification did for each of the 18 identifiers.

    Attributes
    ----------
    findings : tuple of IdentifierFinding, length 18
        One per identifier, in the regulation's order.
    free_text_removed : int
        Narratives, notes, free-text strings and attachments removed; these may have
        carried any identifier, which is why they go.
    notes : tuple of str
        Caveats a reviewer must read (shifted dates, pseudonyms as re-identification codes).

    Examples
    --------
    >>> log = FindingLog()
    >>> log.record(HipaaIdentifier.D, Handling.REMOVED, "Patient.telecom")
    >>> report = log.report()
    >>> report.finding(HipaaIdentifier.D).count, report.meets_safe_harbor
    (1, True)
    """

    findings: tuple[IdentifierFinding, ...]
    free_text_removed: int = 0
    notes: tuple[str, ...] = ()

    def finding(self, identifier: HipaaIdentifier | str) -> IdentifierFinding:
        """The finding for one identifier (letter or enum)."""
        try:
            key = HipaaIdentifier(identifier)
        except ValueError as err:
            raise InvalidInputError(
                f"unknown Safe Harbor identifier {identifier!r}; use one letter A-R"
            ) from err
        return next(f for f in self.findings if f.identifier is key)

    @property
    def meets_safe_harbor(self) -> bool:
        """True when no identifier was only shifted or pseudonymised.

        Pseudonymised resource ids count as a re-identification code under 164.514(c)
        only if the covered entity accepts a keyed HMAC as one; they do not make this
        property false, but :attr:`notes` says so.
        """
        return all(set(f.handling) <= _SAFE | {Handling.PSEUDONYMISED} for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: one entry per identifier, letter-keyed."""
        return {
            "method": "HIPAA Safe Harbor, 45 CFR 164.514(b)(2)",
            "meets_safe_harbor": self.meets_safe_harbor,
            "identifiers": {
                f.identifier.value: {
                    "description": f.identifier.description,
                    "count": f.count,
                    "handling": [h.value for h in f.handling],
                    "locations": list(f.locations),
                }
                for f in self.findings
            },
            "free_text_removed": self.free_text_removed,
            "notes": list(self.notes),
        }


@dataclass
class FindingLog:
    """A mutable tally filled while one de-identification runs, turned into a report.

    It is created per call, never shared: the de-identifier owns it.
    """

    counts: dict[HipaaIdentifier, int] = field(default_factory=dict)
    handlings: dict[HipaaIdentifier, set[Handling]] = field(default_factory=dict)
    locations: dict[HipaaIdentifier, set[str]] = field(default_factory=dict)
    free_text_removed: int = 0

    def record(self, identifier: HipaaIdentifier, handling: Handling, location: str) -> None:
        """Count one occurrence of ``identifier`` at ``location`` handled by ``handling``."""
        self.counts[identifier] = self.counts.get(identifier, 0) + 1
        self.handlings.setdefault(identifier, set()).add(handling)
        self.locations.setdefault(identifier, set()).add(location)

    def report(self, notes: Iterable[str] = ()) -> SafeHarborReport:
        """Freeze the tally into a :class:`SafeHarborReport` with automatic caveats."""
        findings = tuple(self._finding(i) for i in HipaaIdentifier)
        caveats = list(notes)
        if any(Handling.SHIFTED in f.handling for f in findings):
            caveats.append(
                "dates were shifted per patient, keeping intervals: this is not Safe Harbor "
                "(which keeps only the year); use an expert determination, or dates_to_year"
            )
        if any(Handling.PSEUDONYMISED in f.handling for f in findings):
            caveats.append(
                "resource ids were replaced by keyed HMAC-SHA256 pseudonyms; they count as a "
                "re-identification code (164.514(c)) only while the key stays secret with the "
                "covered entity"
            )
        return SafeHarborReport(findings, self.free_text_removed, tuple(caveats))

    def _finding(self, identifier: HipaaIdentifier) -> IdentifierFinding:
        count = self.counts.get(identifier, 0)
        handled = self.handlings.get(identifier) or {Handling.NOT_PRESENT}
        return IdentifierFinding(
            identifier,
            count,
            tuple(sorted(handled)),
            tuple(sorted(self.locations.get(identifier, ()))),
        )


def restricted_zip3() -> frozenset[str]:
    """Three-digit ZIP areas with 20,000 people or fewer (2000 Census), published by HHS.

    Safe Harbor replaces these prefixes by ``000``. The list is package data
    (``governance/data/restricted_zip3.csv``, sources in the README beside it).

    Examples
    --------
    >>> sorted(restricted_zip3())[:3], len(restricted_zip3())
    (['036', '059', '063'], 17)
    """
    text = resources.files("healthtwin.governance").joinpath("data", "restricted_zip3.csv")
    rows = text.read_text("utf-8").splitlines()[1:]
    return frozenset(row.split(",")[0].strip() for row in rows if row.strip())
