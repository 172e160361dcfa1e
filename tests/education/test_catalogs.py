"""The gettext catalogs: extraction, completeness and placeholders of every translation."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from healthtwin.education.case import load_case
from healthtwin.education.culture import CULTURE_FIELDS, load_profiles
from healthtwin.education.i18n import (
    ERRORS_DOMAIN,
    Localizer,
    catalog_path,
    placeholders,
    supported_locales,
)
from healthtwin.education.learner_errors import (
    ERR_MINUTES_NOT_POSITIVE,
    LEARNER_MESSAGES,
    LearnerError,
    error_catalog_files,
)
from healthtwin.education.record import Message

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "education"
PACKAGE = ROOT / "src" / "healthtwin" / "education"
# Words that are spelled the same in a language and English (any other identical msgstr is
# an English text copied in place of a translation).
SAME_WORD = {("fr", "Score"), ("de", "BIS"), ("es", "pH"), ("fr", "pH")}
TRANSLATED = tuple(lang for lang in supported_locales() if lang != "en")


def _script() -> ModuleType:
    path = ROOT / "scripts" / "extract_education_messages.py"
    spec = importlib.util.spec_from_file_location("extract_education_messages", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXTRACT = _script()


def _read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def _ids(catalog: Catalog) -> set[str]:
    """Message ids; a plural entry counts by its plural form (the id a record holds)."""
    return {m.id[-1] if isinstance(m.id, tuple) else str(m.id) for m in catalog if m.id}


# --- extraction, on a fixture --------------------------------------------------------------


def test_extraction_finds_exactly_the_learner_strings() -> None:
    found = EXTRACT.collect([FIXTURES], [FIXTURES / "cultures"], [])
    assert [f[0] for f in found] == [
        "A fixture for translators",
        "{name} is drowsy; {relative} says he skipped {diet}.",
        "Give IV glucose",
        "Laboratory glucose",
        "Laboratory glucose: {glucose_mmol_per_l}.",
        "Insulin worsens hypoglycaemia.",
        "his wife",
        "his lunch",
        "his wife",
        "his lunch",
        "his daughter",
        "his lunch",
        "his wife",
        "his lunch",
        "his son",
        "his lunch",
    ]


def test_extraction_reads_message_ids_from_python(tmp_path: Path) -> None:
    (tmp_path / "engine.py").write_text(
        "Message('Glucose is {g}.', {}, 'result')\n"
        "Message(msgid='Too late.')\n"
        "ScoreItem('critical', 'x', 1.0, 2.0, 'Gave {action} in time.', {})\n"
        "N_('the patient')\n"
        "MSG_DIED: Final = 'The patient has died.'\n"
        "Message(f'not {extracted}')\n"
        "print('not a message')\n"
    )
    found = [f[0] for f in EXTRACT.collect([], [], [tmp_path])]
    assert sorted(found) == [
        "Gave {action} in time.",
        "Glucose is {g}.",
        "The patient has died.",
        "Too late.",
        "the patient",
    ]


def test_merge_keeps_translations_and_drops_removed_ids(tmp_path: Path) -> None:
    files = EXTRACT.outputs([FIXTURES], [FIXTURES / "cultures"], [], tmp_path)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    de_path = catalog_path("de", tmp_path)
    catalog = _read(de_path, "de")
    catalog["Give IV glucose"].string = "Glukose i.v. geben"
    catalog.add("An id no case has any more", "Weg damit")
    catalog["his wife"].string = "seine Frau"
    catalog["his wife"].flags.add("fuzzy")
    with de_path.open("wb") as handle:
        EXTRACT.write_po(handle, catalog)
    again = EXTRACT.outputs([FIXTURES], [FIXTURES / "cultures"], [], tmp_path)[de_path]
    de_path.write_text(again, "utf-8")
    merged = _read(de_path, "de")
    assert merged["Give IV glucose"].string == "Glukose i.v. geben"
    assert "An id no case has any more" not in _ids(merged)
    assert merged["his wife"].string == ""  # a fuzzy guess is not a translation
    loc = Localizer("de", catalog_dir=tmp_path)
    assert loc.render(Message("Give IV glucose")) == "Glukose i.v. geben"
    # An untranslated id falls back to English rather than to an empty string.
    assert loc.gettext("Laboratory glucose") == "Laboratory glucose"


def test_fuzzy_entries_are_never_served(tmp_path: Path) -> None:
    path = catalog_path("fr", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('#, fuzzy\nmsgid "Give IV glucose"\nmsgstr "Donner du sel"\n', "utf-8")
    assert Localizer("fr", catalog_dir=tmp_path).gettext("Give IV glucose") == "Give IV glucose"


# --- the shipped catalogs ------------------------------------------------------------------


def test_template_and_catalogs_are_up_to_date() -> None:
    """Fails when a case or message changed since the catalogs were last extracted."""
    expected = EXTRACT.outputs()
    pot = expected[PACKAGE / "locale" / "messages.pot"]
    shipped = _ids(_read(PACKAGE / "locale" / "messages.pot"))
    # A plural entry's id is its msgid_plural (the id a record holds).
    pattern = r'^msgid "(.*)"$(?:\nmsgid_plural "(.*)"$)?'
    wanted = {p or m for m, p in re.findall(pattern, pot, flags=re.M) if m}
    assert shipped == {_unescape(m) for m in wanted}, (
        "run: .venv/bin/python scripts/extract_education_messages.py, then translate"
    )
    for language in TRANSLATED:
        assert _ids(_read(catalog_path(language), language)) == shipped, language


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_catalog_is_complete_with_identical_placeholders(language: str) -> None:
    catalog = _read(catalog_path(language), language)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):  # a plural entry: every form translated
            forms = [str(f) for f in message.string]
            ids = " ".join(message.id)
            if not all(f.strip() for f in forms) or message.fuzzy:
                problems.append(f"untranslated plural: {message.id!r}")
            elif any(placeholders(f) != placeholders(ids) for f in forms):
                problems.append(f"placeholders differ: {message.id!r} -> {forms!r}")
            continue
        msgid, msgstr = str(message.id), str(message.string)
        if not msgstr.strip():
            problems.append(f"untranslated: {msgid!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        elif placeholders(msgid) != placeholders(msgstr):
            problems.append(f"placeholders differ: {msgid!r} -> {msgstr!r}")
        elif msgstr == msgid and (language, msgid) not in SAME_WORD:
            problems.append(f"copied, not translated: {msgid!r}")
    assert not problems, "\n".join(problems)


def test_catalogs_cover_the_engine_and_scoring_message_ids() -> None:
    found = {f[0] for f in EXTRACT.collect([], [], [PACKAGE])}
    shipped = _ids(_read(PACKAGE / "locale" / "messages.pot"))
    assert found <= shipped
    assert {"the patient", "a relative", "their usual diet"} <= found


def test_no_compiled_catalogs_are_shipped() -> None:
    """Catalogs are compiled in memory from the .po files, so a .mo can never go stale."""
    assert not list((PACKAGE / "locale").rglob("*.mo"))


# --- cultural profiles of the shipped cases ------------------------------------------------


def _cases() -> list[Any]:
    found = sorted((PACKAGE / "cases").glob("*.yaml"))
    reason = "no shipped case yet (E16a writes education/cases/)"
    return found or [pytest.param(Path("none"), marks=pytest.mark.skip(reason=reason))]


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_every_case_has_a_full_profile_per_locale(path: Path) -> None:
    profiles = load_profiles(path.stem)
    assert sorted(profiles) == sorted(supported_locales())
    texts = [text for text, _, _ in EXTRACT.yaml_strings(path, EXTRACT.CASE_KEYS)]
    used = set().union(*(placeholders(t) for t in texts)) & set(CULTURE_FIELDS)
    for profile in profiles.values():
        for field in used:
            assert profile.fields()[field].strip(), (path.stem, profile.locale, field)
    doc = yaml.safe_load(path.read_text("utf-8"))
    assert doc["culture"]["origin"] in profiles
    # The relative is the patient's: "her daughter" for a woman, "his wife" for a man. The
    # sex is the resolved patient's (a cohort member's, when the case names a cohort).
    pronoun = {"female": "her ", "male": "his "}[load_case(path).patient.sex]
    for profile in profiles.values():
        assert profile.relative.startswith(pronoun), (profile.locale, profile.relative)


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_case_texts_hold_no_quantities_the_unit_layer_would_miss(path: Path) -> None:
    inline = re.compile(r"\d\s*(mmol/l|mg/dl|g/l|°c|°f|degc)", re.IGNORECASE)
    offending = [
        text for text, _, _ in EXTRACT.yaml_strings(path, EXTRACT.CASE_KEYS) if inline.search(text)
    ]
    assert not offending, f"put these quantities in placeholders: {offending}"


# --- the errors domain: what a learner is told when a move is refused ------------------------


def test_the_errors_catalogs_are_up_to_date() -> None:
    """Fails when a learner message id changed since the errors catalogs were regenerated."""
    for path, text in error_catalog_files().items():
        assert path.is_file(), path
        assert path.read_text("utf-8") == text, (
            f"{path} is stale: run .venv/bin/python -m healthtwin.education.learner_errors, "
            "then translate"
        )
    template = _read(PACKAGE / "locale" / f"{ERRORS_DOMAIN}.pot")
    assert _ids(template) == set(LEARNER_MESSAGES)
    for language in TRANSLATED:
        catalog = _read(catalog_path(language, domain=ERRORS_DOMAIN), language)
        assert _ids(catalog) == set(LEARNER_MESSAGES), language


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_errors_catalog_is_complete_with_identical_placeholders(language: str) -> None:
    catalog = _read(catalog_path(language, domain=ERRORS_DOMAIN), language)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        msgid, msgstr = str(message.id), str(message.string)
        if not msgstr.strip() or message.fuzzy:
            problems.append(f"untranslated or fuzzy: {msgid!r}")
        elif placeholders(msgid) != placeholders(msgstr):
            problems.append(f"placeholders differ: {msgid!r} -> {msgstr!r}")
        elif msgstr == msgid:
            problems.append(f"copied, not translated: {msgid!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", supported_locales())
def test_every_learner_error_is_served_in_every_language(language: str) -> None:
    loc = Localizer(language)
    for msgid in LEARNER_MESSAGES:
        params = {key: f"<{key}>" for key in placeholders(msgid)}
        text = loc.render_error(LearnerError(msgid, params))
        assert all(f"<{key}>" in text for key in params), (language, text)
        assert (text == msgid.format_map(params)) == (language == "en"), (language, text)


def test_the_errors_domain_stays_out_of_the_cases_catalogs() -> None:
    shipped = _ids(_read(PACKAGE / "locale" / "messages.pot"))
    assert not shipped & set(LEARNER_MESSAGES)
    found = {f[0] for f in EXTRACT.collect([], [], [PACKAGE])}
    assert not found & set(LEARNER_MESSAGES)


def test_a_catalog_folder_without_errors_catalogs_serves_the_packages(tmp_path: Path) -> None:
    path = catalog_path("de", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('msgid "Give IV glucose"\nmsgstr "Glukose i.v. geben"\n', "utf-8")
    loc = Localizer("de", catalog_dir=tmp_path)
    err = LearnerError(ERR_MINUTES_NOT_POSITIVE, {"minutes": 0.0})
    assert loc.render_error(err) == Localizer("de").render_error(err)
    own = catalog_path("de", tmp_path, ERRORS_DOMAIN)
    own.write_text(
        f'msgid "{ERR_MINUTES_NOT_POSITIVE}"\nmsgstr "Warte länger als {{minutes}}."\n', "utf-8"
    )
    assert Localizer("de", catalog_dir=tmp_path).render_error(err) == "Warte länger als 0."
