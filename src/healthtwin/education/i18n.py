"""What a learner reads: messages, quantities, numbers and drug names in their locale.

Sessions are locale-free (:mod:`healthtwin.education.record`): a message is an English
message id with parameters, a quantity is canonical. A :class:`Localizer` turns them into
text through four separate, swappable layers:

- **language**: gettext catalogs ``education/locale/<lang>/LC_MESSAGES/healthtwin.po``
  (English is the message id itself), read with Babel and compiled in memory when a
  localizer is made, so no compiled ``.mo`` file can go stale; the errors a learner reads
  (:mod:`healthtwin.education.learner_errors`) have their own domain, ``errors.po``;
- **units**: :mod:`healthtwin.education.units` (mmol/L, mg/dL or g/L; degC or degF),
  overridable with ``units="si"`` or ``"conventional"``;
- **numbers**: Babel's CLDR number formats (``2,5`` in de/es/fr, ``2.5`` in en/zh);
- **drug names**: :mod:`healthtwin.education.drugs`;

and the culture layer (:mod:`healthtwin.education.culture`) fills ``{name}``,
``{relative}`` and ``{diet}``.

Locales: ``en`` (British usage, SI units), ``de``, ``es``, ``fr``, ``zh`` (Simplified
Chinese). Region tags are aliases (``de_DE``, ``zh_CN``, ``fr-CA``); the region chooses units
and drug names where it matters (``en_US``: mg/dL, degF, *epinephrine*; ``fr_CA``: mmol/L).
"""

from __future__ import annotations

import io
import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import NumberFormatError, format_decimal, parse_decimal
from babel.support import NullTranslations, Translations

from healthtwin.education import units as unitlayer
from healthtwin.education.drugs import DrugNames, load_drug_names
from healthtwin.education.learner_errors import (
    ERR_NOT_A_NUMBER,
    ERR_NOT_A_NUMBER_HINT,
    ERR_NOT_FINITE,
    ERRORS_DOMAIN,
    LearnerError,
    LearnerMessageError,
)
from healthtwin.education.record import Message, Quantity
from healthtwin.errors import InvalidInputError

if TYPE_CHECKING:
    from healthtwin.education.culture import CultureProfile

__all__ = [
    "DOMAIN",
    "ERRORS_DOMAIN",
    "N_",
    "PLURAL_FORMS",
    "LocaleChoice",
    "Localizer",
    "catalog_path",
    "load_translations",
    "placeholders",
    "resolve_locale",
    "supported_locales",
]

DOMAIN = "healthtwin"
_LANGUAGES = ("en", "de", "es", "fr", "zh")
# Region -> unit system, where a region departs from its language's default.
_REGION_UNITS = {"US": unitlayer.US, "CA": unitlayer.SI}
_LANGUAGE_UNITS = {
    "en": unitlayer.SI,
    "de": unitlayer.CONVENTIONAL,
    "es": unitlayer.CONVENTIONAL,
    "fr": unitlayer.FRENCH,
    "zh": unitlayer.SI,
}
_SPACES = (" ", "\u00a0", "\u202f", "\u2009")


def N_(msgid: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a string as a message id for extraction without translating it (gettext_noop).

    Examples
    --------
    >>> N_("the patient")
    'the patient'
    """
    return msgid


#: Messages with a count: the (plural) message id a record holds -> its singular English
#: form and the parameter that counts. The catalogs hold them as plural entries
#: (``msgid``/``msgid_plural``), rendered with ``ngettext`` so that a learner reads "1
#: minute" and "5 minutes" in every language's plural rule.
PLURAL_FORMS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "Result expected in {wait_min} minutes.": (
            "Result expected in {wait_min} minute.",
            "wait_min",
        ),
    }
)

# Cultural placeholders when a message is rendered without a profile.
_NEUTRAL_CULTURE = {
    "name": N_("the patient"),
    "relative": N_("a relative"),
    "diet": N_("their usual diet"),
}


def supported_locales() -> tuple[str, ...]:
    """The languages shipped (region tags such as ``de_DE`` are aliases of these).

    Examples
    --------
    >>> supported_locales()
    ('en', 'de', 'es', 'fr', 'zh')
    """
    return _LANGUAGES


@dataclass(frozen=True)
class LocaleChoice:
    """A resolved locale: its ``language`` (catalog), ``tag`` for number formats, the
    default ``units`` and the ``drug_column`` of the drug-name table."""

    tag: str
    language: str
    units: unitlayer.UnitSystem
    drug_column: str


def resolve_locale(locale: str) -> LocaleChoice:
    """Resolve a locale tag (``"de"``, ``"de_DE"``, ``"en-US"``, ``"zh_CN"``).

    Raises
    ------
    InvalidInputError
        If the tag is not a locale of a supported language (the supported ones are listed).

    Examples
    --------
    >>> choice = resolve_locale("en-US")
    >>> choice.language, choice.units.glucose, choice.drug_column
    ('en', 'mg/dL', 'en_US')
    """
    hint = f"supported locales: {', '.join(_LANGUAGES)} (region tags such as de_DE, en_US too)"
    try:
        parsed = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError, AttributeError) as err:
        raise InvalidInputError(f"unknown locale {locale!r}; {hint}") from err
    if parsed.language not in _LANGUAGES or parsed.script == "Hant":
        raise InvalidInputError(f"unsupported locale {locale!r}; {hint}")
    territory = parsed.territory or ""
    units = _REGION_UNITS.get(territory, _LANGUAGE_UNITS[parsed.language])
    column = "en_US" if (parsed.language, territory) == ("en", "US") else parsed.language
    return LocaleChoice(str(parsed), parsed.language, units, column)


def catalog_path(language: str, directory: Path | None = None, domain: str = DOMAIN) -> Path:
    """Where the ``.po`` catalog of a language (and gettext domain) lives.

    Examples
    --------
    >>> catalog_path("de", Path("locale"), ERRORS_DOMAIN).as_posix()
    'locale/de/LC_MESSAGES/errors.po'
    """
    root = directory or Path(str(resources.files("healthtwin.education").joinpath("locale")))
    return root / language / "LC_MESSAGES" / f"{domain}.po"


def load_translations(
    language: str, directory: Path | None = None, domain: str = DOMAIN
) -> NullTranslations:
    """Read a language's ``.po`` catalog and compile it in memory (fuzzy entries left out).

    English, the message ids' own language, has no catalog.

    Parameters
    ----------
    language : str
        ``de``, ``es``, ``fr``, ``zh`` (``en``: the ids themselves).
    directory : Path, optional
        Catalogs to read instead of the package's.
    domain : str
        ``healthtwin`` (the cases, interface and scores) or ``errors`` (what a learner is
        told when a move is refused).

    Raises
    ------
    InvalidInputError
        If a non-English catalog is missing.
    """
    if language == "en":
        return NullTranslations()
    path = catalog_path(language, directory, domain)
    if not path.is_file():
        hint = (
            "run python -m healthtwin.education.learner_errors"
            if domain == ERRORS_DOMAIN
            else "run scripts/extract_education_messages.py"
        )
        raise InvalidInputError(f"no catalog for {language!r} at {path}; {hint}")
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=domain)


def placeholders(text: str) -> set[str]:
    """The ``{placeholder}`` names in a message (format specs are not allowed).

    Examples
    --------
    >>> sorted(placeholders("{name} has a glucose of {glucose}."))
    ['glucose', 'name']
    """
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


class Localizer:
    """Renders locale-free session output for a learner in one locale.

    Parameters
    ----------
    locale : str
        ``en``, ``de``, ``es``, ``fr``, ``zh`` or a region tag of one of them.
    units : {"si", "conventional"} or UnitSystem, optional
        Override the locale's units.
    catalog_dir : Path, optional
        Catalogs to read instead of the package's (tests, new cases); the package's
        ``errors`` catalogs serve when it has none of its own.

    Examples
    --------
    >>> en = Localizer("en_US")
    >>> en.render(Message("{name} has {glucose}.", {"glucose": Quantity(2.2, "mmol/L")}))
    'The patient has 40\\xa0mg/dL.'
    >>> de = Localizer("de_DE")
    >>> de.quantity(Quantity(2.2, "mmol/L"), "glucose"), de.parse_number("2,5")
    ('40\\xa0mg/dl', 2.5)
    """

    def __init__(
        self,
        locale: str,
        *,
        units: str | unitlayer.UnitSystem | None = None,
        catalog_dir: Path | None = None,
        drugs: DrugNames | None = None,
    ) -> None:
        self.choice = resolve_locale(locale)
        self.language = self.choice.language
        if isinstance(units, str):
            # "conventional" keeps a conventional locale's own variant (g/L in France,
            # degF in the US); otherwise it means mg/dL.
            wanted = unitlayer.unit_system(units)
            units = self.choice.units if wanted.name == self.choice.units.name else wanted
        self.units = units or self.choice.units
        self._translations = load_translations(self.language, catalog_dir)
        own_errors = catalog_dir is not None and (
            catalog_path(self.language, catalog_dir, ERRORS_DOMAIN).is_file()
        )
        self._errors = load_translations(
            self.language, catalog_dir if own_errors else None, ERRORS_DOMAIN
        )
        self._drugs = drugs or load_drug_names()

    def gettext(self, msgid: str) -> str:
        """The translation of ``msgid`` (the id itself when the catalog lacks it)."""
        return str(self._translations.gettext(msgid))

    def ngettext(self, msgid: str, count: float) -> str:
        """The translation of a counted message (a :data:`PLURAL_FORMS` key) for ``count``.

        Examples
        --------
        >>> Localizer("en").ngettext("Result expected in {wait_min} minutes.", 1)
        'Result expected in {wait_min} minute.'
        >>> Localizer("de").ngettext("Result expected in {wait_min} minutes.", 5)
        'Ergebnis in {wait_min} Minuten erwartet.'
        """
        singular, _ = PLURAL_FORMS[msgid]
        # A fractional count takes the plural in English; the catalog's rule decides else.
        n = int(count) if float(count).is_integer() else 2
        return str(self._translations.ngettext(singular, msgid, n))

    def number(self, x: float, digits: int = 1) -> str:
        """``x`` with ``digits`` decimals in the locale's format.

        Examples
        --------
        >>> Localizer("fr").number(1234.56, 1), Localizer("en").number(2.0, 0)
        ('1\\u202f234,6', '2')
        """
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return format_decimal(x, format=pattern, locale=self.choice.tag)

    def parse_number(self, text: str) -> float:
        """A number a learner typed, with the locale's decimal separator.

        Raises
        ------
        InvalidInputError
            If ``text`` is not a number written the locale's way (``"2.5"`` in German is
            refused rather than read as 25).

        Examples
        --------
        >>> Localizer("es").parse_number("2,5"), Localizer("en").parse_number("1,000.5")
        (2.5, 1000.5)
        """
        cleaned = text.strip()
        for space in _SPACES:
            cleaned = cleaned.replace(space, "")
        try:
            value = float(parse_decimal(cleaned, locale=self.choice.tag, strict=True))
        except NumberFormatError as err:
            separator = self.number(0.5)[1]
            maybe = f"; did you mean {err.suggestions[-1]!r}?" if err.suggestions else ""
            english = (
                f"{text!r} is not a number in locale {self.choice.tag} (decimal separator "
                f"{separator!r}){maybe}"
            )
            params: dict[str, str | float | Quantity] = {"text": text, "separator": separator}
            if err.suggestions:
                params["suggestion"] = err.suggestions[-1]
            msgid = ERR_NOT_A_NUMBER_HINT if err.suggestions else ERR_NOT_A_NUMBER
            raise LearnerError(msgid, params, english=english) from err
        if not math.isfinite(value):
            raise LearnerError(
                ERR_NOT_FINITE,
                {"text": text},
                english=f"{text!r} is not a finite number; type a plain value",
            )
        return value

    def unit(self, kind_or_unit: str) -> str:
        """The label of the local unit of a measure, kind or dose unit (``"mg/dl"``)."""
        symbol = unitlayer.local_unit(kind_or_unit, self.units).symbol
        return unitlayer.unit_label(symbol, self.language)

    def to_local(self, value: float, unit_kind: str) -> float:
        """A canonical value in the learner's unit (unrounded)."""
        return unitlayer.to_local(value, unit_kind, self.units)

    def to_canonical(self, value: float, unit_kind: str) -> float:
        """A value the learner entered in local units, in the canonical unit.

        Examples
        --------
        >>> round(Localizer("es").to_canonical(90.08, "glucose_mmol_per_l"), 6)
        5.0
        """
        return unitlayer.from_local(value, unit_kind, self.units)

    def quantity(self, q: Quantity, measure: str | None = None) -> str:
        """A canonical quantity in the learner's unit and number format.

        ``measure`` (a measure name or key such as ``"glucose"``) tells glucose apart from
        the other mmol/L quantities; without it, only the unit decides.
        """
        kind = _kind(q.unit, measure)
        if kind is None:
            # Unknown kind: at most two decimals, so that neither a pH nor a score is rounded
            # into a different clinical meaning.
            text = format_decimal(q.value, format="#,##0.##", locale=self.choice.tag)
            if q.unit in ("", "1"):
                return text
            return f"{text}\u00a0{unitlayer.unit_label(q.unit, self.language)}"
        unit = unitlayer.local_unit(kind, self.units)
        local = unitlayer.to_local(q.value, kind, self.units)
        text = self.number(local, unit.digits)
        if local != 0 and abs(local) < 10.0**-unit.digits:
            # Smaller than the unit's last digit (a typed dose of 0.02 g): keep up to three
            # more decimals rather than echo "0.0 g".
            pattern = "#,##0." + "0" * unit.digits + "###"
            text = format_decimal(local, format=pattern, locale=self.choice.tag)
        if not unit.symbol:
            return text
        label = unitlayer.unit_label(unit.symbol, self.language)
        tight = (unit.symbol == "%" and self.language in ("en", "zh")) or label.startswith("/")
        return text + ("" if tight else "\u00a0") + label

    def drug(self, generic_id: str) -> str:
        """The local name of a drug (``"adrenaline"`` -> ``"epinephrine"`` in en_US)."""
        return self._drugs.name(generic_id, self.choice.drug_column)

    def render(self, message: Message, culture: CultureProfile | None = None) -> str:
        """The text a learner reads for ``message``.

        Parameters are rendered by type: a :class:`Quantity` in local units (its key names
        the measure), a number in the locale's format, ``"drug:<id>"`` by the drug layer,
        any other string translated through the catalog. ``{name}``, ``{relative}`` and
        ``{diet}`` come from ``culture`` (neutral words when it is ``None``).

        Raises
        ------
        InvalidInputError
            If the text needs a parameter the message lacks.
        """
        if message.msgid in PLURAL_FORMS:
            count = message.params.get(PLURAL_FORMS[message.msgid][1])
            if isinstance(count, int | float):
                return self._filled(self.ngettext(message.msgid, count), message, culture)
        return self._filled(self.gettext(message.msgid), message, culture)

    def render_error(self, error: LearnerMessageError) -> str:
        """What a learner reads of a refused move: its ``errors``-domain text, filled in.

        Parameters are rendered as by :meth:`render` (a dose in the learner's units and
        number format, a label through the cases' catalog).

        Examples
        --------
        >>> from healthtwin.education.learner_errors import ERR_DOSE_OUT_OF_RANGE
        >>> err = LearnerError(ERR_DOSE_OUT_OF_RANGE, {"dose": Quantity(2.5, "mg"),
        ...     "action": "Give intramuscular glucagon", "low": Quantity(0.5, "mg"),
        ...     "high": Quantity(1.0, "mg")})
        >>> Localizer("de").render_error(err)
        'Die Dosis 2,5\\xa0mg für „...“ liegt außerhalb des erlaubten Bereichs ...'
        """
        template = str(self._errors.gettext(error.msgid))
        return self._filled(template, error.message(), None)

    def _filled(self, template: str, message: Message, culture: CultureProfile | None) -> str:
        values = {key: self._param(key, value) for key, value in message.params.items()}
        needed = placeholders(template)
        context = culture.fields() if culture is not None else _NEUTRAL_CULTURE
        words = {
            field: context[field] if field == "name" and culture else self.gettext(context[field])
            for field in needed & set(context) - set(values)
        }
        # Each occurrence is capitalised on its own: only where it starts a sentence.
        template = _with_words(template, words)
        needed = placeholders(template)
        missing = needed - set(values)
        if missing:
            raise InvalidInputError(
                f"message {message.msgid!r} needs {sorted(missing)} but its parameters are "
                f"{sorted(message.params)}; pass every placeholder"
            )
        return template.format_map(values)

    def _param(self, key: str, value: str | float | Quantity) -> str:
        if isinstance(value, Quantity):
            return self.quantity(value, key)
        if isinstance(value, str):
            if value.startswith("drug:"):
                return self.drug(value.removeprefix("drug:"))
            return self.gettext(value)
        return format_decimal(value, format="#,##0.##", locale=self.choice.tag)


def _kind(unit: str, measure: str | None) -> str | None:
    if measure is not None:
        kind = unitlayer.kind_of(measure)
        canonical = "" if unit == "1" else unit
        if kind is not None and unitlayer.local_unit(kind, unitlayer.SI).symbol == canonical:
            return kind
    for candidate in (unit, {"degC": "temperature"}.get(unit, "")):
        if candidate in unitlayer.DOSE_UNITS or candidate == "temperature":
            return candidate
    fixed = {"mmHg": "pressure", "/min": "rate", "%": "percent"}
    return fixed.get(unit)


def _with_words(template: str, words: Mapping[str, str]) -> str:
    """``template`` with each ``{field}`` of ``words`` replaced, capitalised at a sentence start."""
    if not words:
        return template
    pattern = re.compile(r"(?<!\{)\{(" + "|".join(map(re.escape, words)) + r")\}(?!\})")

    def sub(match: re.Match[str]) -> str:
        text = words[match.group(1)]
        before = template[: match.start()].rstrip()
        if not before or before[-1] in ".!?。":
            text = _capitalised(text)
        return text.replace("{", "{{").replace("}", "}}")

    return pattern.sub(sub, template)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
