"""The interface text around a case: translated everywhere, complete for every face.

The faces name their texts by key: the template as ``{{ t.<key> }}``, the script as
``text("<key>")`` (or a quoted key it passes on), the terminal session as
``text["<key>"]``/``t["<key>"]``. These tests read the three files and check that every key
they use exists and every key exists because a face uses it, so a new English string in a
face cannot slip past the catalogs.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.pofile import read_po
from starlette.requests import Request

from healthtwin.dashboard.education import education, education_session, page_locale
from healthtwin.education.i18n import Localizer, catalog_path, placeholders, supported_locales
from healthtwin.education.ui_text import (
    FACES,
    PAGE_TEXT,
    SCRIPT_TEXT,
    TERMINAL_TEXT,
    interface_text,
)
from healthtwin.errors import InvalidInputError

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "healthtwin"
TEMPLATE = SRC / "dashboard" / "templates" / "education.html"
SCRIPT = SRC / "dashboard" / "static" / "education.js"
TERMINAL = SRC / "cli" / "educate.py"
TRANSLATED = tuple(lang for lang in supported_locales() if lang != "en")
# Texts spelled the same as the English id in a language (checked by hand).
SAME_TEXT = {("fr", "Score")}


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_interface_text_is_translated_with_its_placeholders(language: str) -> None:
    with catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    texts = interface_text(Localizer(language))
    problems = []
    for face in FACES.values():
        for key, msgid in face.items():
            entry = catalog.get(msgid)
            if entry is None or not str(entry.string).strip() or entry.fuzzy:
                problems.append(f"{key}: {msgid!r} has no translation")
                continue
            if placeholders(str(entry.string)) != placeholders(msgid):
                problems.append(f"{key}: placeholders of {entry.string!r} differ from {msgid!r}")
            if texts[key] == msgid and (language, msgid) not in SAME_TEXT:
                problems.append(f"{key}: {msgid!r} is served in English")
    assert not problems, "\n".join(problems)


def test_keys_are_unique_across_faces_and_english_is_the_id() -> None:
    keys = [key for face in FACES.values() for key in face]
    assert len(keys) == len(set(keys))
    english = interface_text(Localizer("en"))
    assert english == {key: msgid for face in FACES.values() for key, msgid in face.items()}
    assert interface_text(Localizer("de"), "script").keys() == SCRIPT_TEXT.keys()


def test_an_unknown_face_is_refused_naming_the_faces() -> None:
    with pytest.raises(InvalidInputError, match="faces are"):
        interface_text(Localizer("en"), "poster")


def test_the_german_texts_fill_their_placeholders() -> None:
    de = interface_text(Localizer("de"))
    assert de["clock"].format(now="0:12", total="1:00") == "Minute 0:12 von 1:00"
    assert de["end_button"] == "Fall beenden"
    assert de["actions_heading"] == "Maßnahmen"
    zh = interface_text(Localizer("zh_CN"), "terminal")
    assert zh["no_action_number"].format(number=9, count=5) == "没有第 9 号处置；请选择 1-5"


# --- the faces use exactly the keys there are ----------------------------------------------


def test_the_page_uses_every_page_key_and_no_other() -> None:
    used = set(re.findall(r"\{\{\s*t\.(\w+)\s*\}\}", TEMPLATE.read_text("utf-8")))
    titles = set(re.findall(r"\"(title_\w+)\"", (SRC / "dashboard" / "education.py").read_text()))
    assert used | titles == set(PAGE_TEXT)
    assert titles == {"title_start", "title_session"}


class _TextNodes(HTMLParser):
    """Text and labelling attributes of a template, with its Jinja expressions removed."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        self.found += [v or "" for k, v in attrs if k in ("aria-label", "title", "placeholder")]

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if not self._in_script:
            self.found.append(data)


def test_the_template_holds_no_english_text_of_its_own() -> None:
    content = TEMPLATE.read_text("utf-8").split("{% block content %}", 1)[1]
    source = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", content)
    parser = _TextNodes()
    parser.feed(source)
    leftovers = [text.strip() for text in parser.found if re.search(r"[A-Za-z]", text)]
    assert leftovers == []


def test_the_script_uses_every_script_key_and_no_other() -> None:
    source = SCRIPT.read_text("utf-8")
    called = set(re.findall(r"\btext\(\s*\"(\w+)\"", source))
    quoted = set(re.findall(r"\"([a-z0-9_]+)\"", source)) & set(SCRIPT_TEXT)
    assert called <= set(SCRIPT_TEXT), called - set(SCRIPT_TEXT)
    assert called | quoted == set(SCRIPT_TEXT)
    # no English phrase is built in the script: its string literals are ids, paths,
    # punctuation, CSS selectors or single words such as "button"
    literals = re.findall(r"\"([^\"\n]*)\"", source)
    phrases = [s for s in literals if re.search(r"[A-Za-z]+ [a-z]+", s) and s[0] != "#"]
    assert phrases == ["use strict"]


def test_the_terminal_session_uses_every_terminal_key_and_no_other() -> None:
    used = set(re.findall(r"\b(?:text|t)\[\"(\w+)\"\]", TERMINAL.read_text("utf-8")))
    assert used == set(TERMINAL_TEXT)


# --- the page's locale ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "header", "tag"),
    [
        (None, "de-DE,de;q=0.9,en;q=0.8", "de_DE"),
        (None, "ja, ko;q=0.9, es-MX;q=0.5, fr;q=0.7", "fr"),
        (None, "*, zh-Hant;q=0.9", "en"),
        (None, "fr;q=oops, es;q=0.2", "es"),
        (None, "", "en"),
        ("zh_CN", "de", "zh_Hans_CN"),
    ],
)
def test_the_page_locale_follows_the_query_then_the_browser(
    query: str | None, header: str, tag: str
) -> None:
    assert page_locale(query, header).tag == tag


def test_an_unsupported_query_locale_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="supported locales"):
        page_locale("tlh", "de")


def _get(
    session_id: str = "",
    *,
    query: str = "",
    accept_language: str | None = None,
    held_locale: str | None = None,
) -> str:
    """A page as the route renders it (no server: a request built from its ASGI scope)."""
    held = SimpleNamespace(locale=held_locale) if held_locale else None
    app = SimpleNamespace(state=SimpleNamespace(education=SimpleNamespace(find=lambda _: held)))
    headers = [(b"accept-language", accept_language.encode())] if accept_language else []
    path = f"/dashboard/education/{session_id}"
    request = Request(
        {"type": "http", "method": "GET", "app": app, "headers": headers, "path": path,
         "query_string": query.encode()}
    )  # fmt: skip
    page = education_session(request, session_id) if session_id else education(request)
    assert page.status_code == 200
    return bytes(page.body).decode("utf-8")


def _script_text(page: str) -> dict[str, str]:
    found = re.search(
        r'<script type="application/json" id="education-text">(.*?)</script>', page, re.S
    )
    assert found is not None
    texts: dict[str, str] = json.loads(found.group(1))
    return texts


def test_the_start_page_speaks_the_browsers_language() -> None:
    html = _get(accept_language="de-DE,de;q=0.9")
    assert '<html lang="de">' in html
    assert "<h1>Fallbasiertes Lernen</h1>" in html
    assert "Übungsfall beginnen" in html
    assert "Start a training case" not in html
    assert '<option value="de" lang="de" selected>' in html
    assert _script_text(html) == interface_text(Localizer("de"), "script")


def test_a_session_page_speaks_its_sessions_language() -> None:
    html = _get("es-abc123", accept_language="de", held_locale="fr")
    assert '<html lang="fr">' in html
    assert "Terminer le cas" in html
    assert _script_text(html)["variant_expert"] == "Prise en charge experte"
    # a session the server no longer holds reads ?locale=, then the browser's language
    assert '<html lang="es">' in _get("es-abc123", query="locale=es", accept_language="de")
    assert '<html lang="zh">' in _get("es-abc123", accept_language="zh-CN")
    with pytest.raises(InvalidInputError, match="supported locales"):
        _get(query="locale=tlh")


def test_the_json_block_cannot_close_its_script_element() -> None:
    html = _get(query="locale=en", accept_language="fr")
    block = html.split('id="education-text">', 1)[1].split("</script>", 1)[0]
    assert "<" not in block
    assert _script_text(html)["dose_label"] == "Dose"
