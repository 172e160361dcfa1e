"""The culture layer: who the patient is, kept apart from what is wrong with them.

A case's clinical core (physiology, timeline, actions, rubric) is the same everywhere; its
cultural context is not. For each case, ``education/cultures/<case_id>.yaml`` holds one
:class:`CultureProfile` per locale: the patient's name, the relative at the bedside and the
diet that matters to the case (Ramadan fasting, a rice-based diet, a late family dinner).
Case texts use the placeholders ``{name}``, ``{relative}`` and ``{diet}``; the localizer
fills them from a profile.

A learner meets either a patient of their own culture (the default) or, with
``keep_foreign=True``, the case's original one (``culture.origin`` in the case), still in
the learner's language: ``relative`` and ``diet`` are English message ids translated at
render time like every other case string, and only ``name`` is never translated.

File format::

    case: hypoglycaemia
    profiles:
      de: {name: "Herr Wolfgang Becker", relative: "his wife", diet: "..."}
      zh: {name: "王建国先生", relative: "his son", diet: "..."}
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from healthtwin.education.i18n import resolve_locale, supported_locales
from healthtwin.errors import InvalidInputError, NotFoundError

# libyaml when available: the pure-Python parser costs about 0.1 s per file.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
__all__ = ["CULTURE_FIELDS", "CultureProfile", "culture_for", "load_profiles"]

CULTURE_FIELDS = ("name", "relative", "diet")


@dataclass(frozen=True)
class CultureProfile:
    """The cultural context of one case in one locale.

    Attributes
    ----------
    locale : str
        The culture this profile belongs to (``"de"``, ``"zh"``...).
    name : str
        The patient's name as written in that culture (never translated).
    relative : str
        The relative present, as an English message id (``"his daughter"``).
    diet : str
        The diet relevant to the case, as an English message id.

    Examples
    --------
    >>> CultureProfile("en", "Mr Tom Hughes", "his wife", "a late curry dinner").fields()["name"]
    'Mr Tom Hughes'
    """

    locale: str
    name: str
    relative: str
    diet: str

    def fields(self) -> dict[str, str]:
        """The placeholder values, keyed ``name``, ``relative``, ``diet``."""
        return {"name": self.name, "relative": self.relative, "diet": self.diet}


class CaseLike(Protocol):
    """What the culture layer needs of a case: its id and ``culture.origin``."""

    @property
    def id(self) -> str: ...

    @property
    def culture(self) -> Any: ...


def _default_directory() -> Path:
    return Path(str(resources.files("healthtwin.education").joinpath("cultures")))


def load_profiles(case_id: str, directory: Path | None = None) -> dict[str, CultureProfile]:
    """Every profile of a case, keyed by locale.

    Raises
    ------
    NotFoundError
        If the case has no cultures file.
    InvalidInputError
        If a profile lacks a field, or names a locale that is not supported.

    Examples
    --------
    >>> sorted(load_profiles("hypoglycaemia"))
    ['de', 'en', 'es', 'fr', 'zh']
    """
    path = (directory or _default_directory()) / f"{case_id}.yaml"
    if not path.is_file():
        raise NotFoundError(
            f"case {case_id!r} has no cultural profiles at {path}; write one profile per "
            f"locale ({', '.join(supported_locales())}) there"
        )
    doc = yaml.load(path.read_text("utf-8"), Loader=_LOADER)
    profiles: dict[str, CultureProfile] = {}
    for locale, row in (doc.get("profiles") or {}).items():
        if locale not in supported_locales():
            raise InvalidInputError(
                f"{path}: profile for unsupported locale {locale!r}; use one of "
                f"{', '.join(supported_locales())}"
            )
        missing = [f for f in CULTURE_FIELDS if not isinstance(row.get(f), str) or not row[f]]
        if missing:
            raise InvalidInputError(
                f"{path}: profile {locale!r} lacks {', '.join(missing)}; give every profile "
                f"a non-empty {', '.join(CULTURE_FIELDS)}"
            )
        profiles[locale] = CultureProfile(locale, row["name"], row["relative"], row["diet"])
    return profiles


def culture_for(
    case: CaseLike, locale: str, keep_foreign: bool = False, *, directory: Path | None = None
) -> CultureProfile:
    """The profile a learner in ``locale`` meets in ``case``.

    Parameters
    ----------
    case : Case
        The case (its ``id`` and ``culture.origin`` are used).
    locale : str
        The learner's locale (aliases such as ``de_DE`` accepted).
    keep_foreign : bool
        Meet the case's original patient (``culture.origin``) instead of a local one.
    directory : Path, optional
        Where the ``<case_id>.yaml`` profiles are (default: the package's ``cultures/``).

    Raises
    ------
    InvalidInputError
        If the locale is not supported.
    NotFoundError
        If the case has no profile for the culture asked.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> case = SimpleNamespace(id="hypoglycaemia", culture=SimpleNamespace(origin="en"))
    >>> culture_for(case, "de_DE").locale, culture_for(case, "de", keep_foreign=True).locale
    ('de', 'en')
    """
    wanted = resolve_locale(case.culture.origin if keep_foreign else locale).language
    profiles = load_profiles(case.id, directory)
    try:
        return profiles[wanted]
    except KeyError as err:
        raise NotFoundError(
            f"case {case.id!r} has no cultural profile for {wanted!r} (it has "
            f"{', '.join(sorted(profiles))}); add one to cultures/{case.id}.yaml"
        ) from err
