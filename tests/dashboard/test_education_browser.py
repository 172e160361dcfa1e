"""The education view end to end in Debian's chromium, driven by Playwright.

A secured server (tokens required on ``/api/v1``) serves the dashboard; the browser gets
its token once in the page address. The learner opens the education page, chooses German
and the hypoglycaemia case, starts it, checks the capillary glucose, gives IV glucose from
the keyboard, advances and checks again: the glucose on the chart must rise, in mg/dl,
with German text in the log; finishing shows the score and the debrief bands. The page
around the case is German too (headings, buttons, labels, the script's status lines and
debrief variants), with none of the English interface left. Every control must carry a
label, the plot an accessible name, and no page may log a console error or a
Content-Security-Policy violation (the interface text reaches the script as a JSON data
block, which the policy allows). Screenshots go to ``$HEALTHTWIN_SCREENSHOTS`` (else
pytest's tmp dir).

Needs ``playwright`` (the test extra) and ``/usr/bin/chromium``; without them the module
is skipped, except under HEALTHTWIN_FULL_TESTS=1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.api.security_fixtures import Keys, claims, config
from tests.api.v1_server import free_port, serving
from tests.dashboard.conftest import TIMEOUT_MS, assert_labelled

from healthtwin.api.app import create_app
from healthtwin.api.education import EducationRegistry
from healthtwin.store import open_store

# The page's and the script's English, none of which may show on a German page.
ENGLISH_INTERFACE = (
    "Start a training case",
    "Keep the case's original patient",
    "What happens",
    "Ask, examine, investigate",
    "Advance 1 min",
    "Advance 5 min",
    "Finish case",
    "Debrief at the end",
    "Patients per debrief variant",
    "Dose ",
    " of ",
    "Passed:",
    "Not passed:",
    "points",
    "As played",
    "Expert pathway",
    "min earlier",
    "Score (5",
)
# Listens for Content-Security-Policy violations from the first script on.
CSP_LISTENER = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation', "
    "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    keys = Keys.make()
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('edu-dash') / 'store.sqlite'}")
    port = free_port()
    app = create_app(store, base_url=f"http://127.0.0.1:{port}/fhir", security=config(keys))
    token = keys.sign(claims("clinician", sub="learner-browser", lifetime_s=1800))
    try:
        with serving(app, port) as root:
            yield root, token
    finally:
        store.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    context.add_init_script(CSP_LISTENER)
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: problems.append(str(e)))
    opened.problems = problems
    try:
        yield opened
    finally:
        context.close()


def _glucose_points(page: Any) -> list[float]:
    values: list[float] = page.evaluate(
        "() => (document.getElementById('vitals-plot').data || [])"
        ".filter(t => t.meta === 'glucose_mmol_per_l:result').flatMap(t => t.y)"
    )
    return values


def _no_english(page: Any) -> None:
    shown = page.locator("main").inner_text() + " ".join(
        page.evaluate(
            "() => [...document.querySelectorAll('main [aria-label], main caption')]"
            ".map(e => e.getAttribute('aria-label') || e.textContent)"
        )
    )
    assert [english for english in ENGLISH_INTERFACE if english in shown] == []


def _no_csp_violation(page: Any) -> None:
    assert page.evaluate("() => window.__csp") == []


def _wait_chart(page: Any, version: str | None) -> str:
    page.wait_for_function(
        "v => document.body.dataset.chartVersion && document.body.dataset.chartVersion !== v",
        arg=version or "",
    )
    current: str = page.evaluate("() => document.body.dataset.chartVersion")
    return current


def test_a_learner_treats_hypoglycaemia_in_german(
    page: Any, site: tuple[str, str], shots: Path
) -> None:
    root, token = site
    page.goto(f"{root}/dashboard/education#token={token}")
    assert page.get_by_role("link", name="Education").get_attribute("aria-current") == "page"
    assert page.locator("#start-h").inner_text() == "Start a training case"
    # choosing German loads the page again in German
    with page.expect_navigation():
        page.select_option("#locale-select", "de")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("h1").inner_text() == "Fallbasiertes Lernen"
    assert page.locator("#start-h").inner_text() == "Übungsfall beginnen"
    assert page.locator("#start-button").inner_text() == "Fall starten"
    assert page.locator("label[for='foreign-input']").inner_text().startswith("Ursprünglichen")
    assert page.locator("#locale-select").input_value() == "de"
    page.wait_for_function(
        "() => [...document.querySelectorAll('#case-select option')]"
        ".some(o => o.value === 'hypoglycaemia' && !o.textContent.startsWith('Drowsy'))"
    )
    page.select_option("#case-select", "hypoglycaemia")
    assert_labelled(page)
    page.screenshot(path=str(shots / "education-start.png"), full_page=True)
    _no_english(page)
    page.click("#start-button")
    page.wait_for_url("**/dashboard/education/es-*")
    version = _wait_chart(page, None)
    assert page.evaluate("() => document.body.dataset.language") == "de"
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("#actions-h").inner_text() == "Maßnahmen"
    assert page.locator("#vitals-h").inner_text() == "Monitoring"
    assert page.locator("#info-h").inner_text() == "Anamnese, Untersuchung, Diagnostik"
    assert page.locator("#end-button").inner_text() == "Fall beenden"
    assert page.locator("#advance-5").inner_text() == "5 Min. weiter"
    assert page.locator("#clock").inner_text().startswith("Minute 0:00 von 1:00")
    assert page.locator("#vitals-table thead").inner_text().split() == ["Messgröße", "Wert"]
    assert "Ergebnis in" in page.locator("[data-info='lab_glucose']").inner_text()
    assert page.locator("#vitals-plot").get_attribute("aria-label").startswith("Vitalparameter")
    assert page.locator("#log").get_attribute("lang") == "de"
    assert "Sie kommen ans Bett" in page.locator("#log").inner_text()
    # the dose input is labelled with the learner's unit
    dose_label = page.locator("label[for='dose-give_dextrose_iv']").inner_text()
    assert "(g," in dose_label
    assert dose_label.startswith("Dosis")
    assert page.locator("#dose-give_dextrose_iv").input_value() == "15"
    assert_labelled(page)

    page.click("[data-info='capillary_glucose']")
    version = _wait_chart(page, version)
    page.click("#advance-1")
    version = _wait_chart(page, version)
    [before] = _glucose_points(page)
    assert "Kapillärer Blutzucker" in page.locator("#log").inner_text()
    assert "mg/dl" in page.locator("#log").inner_text()

    # give IV glucose from the keyboard
    page.fill("#dose-give_dextrose_iv", "20")
    give = page.locator("form[data-action='give_dextrose_iv'] button")
    give.focus()
    page.keyboard.press("Enter")
    version = _wait_chart(page, version)
    for _ in range(2):
        page.click("#advance-5")
        version = _wait_chart(page, version)
    page.click("[data-info='capillary_glucose']")
    version = _wait_chart(page, version)
    page.click("#advance-1")
    version = _wait_chart(page, version)
    points = _glucose_points(page)
    assert len(points) == 2
    assert points[1] > before + 18.0
    assert page.locator("#vitals-plot .main-svg path").count() > 0
    assert page.evaluate("() => document.body.dataset.nowMin") == "12"
    page.screenshot(path=str(shots / "education-play.png"), full_page=True)

    page.fill("#draws-input", "2")
    page.focus("#end-button")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.body.dataset.scored !== undefined", timeout=120_000)
    assert page.locator("#score-section").is_visible()
    assert page.locator("#score-table tbody tr").count() >= 5
    assert page.locator("#debrief-table tbody tr").count() >= 3
    expert = page.locator("#debrief-table tr[data-variant='expert'] th").inner_text()
    assert expert == "Expertenvorgehen"
    assert (
        page.locator("#debrief-table tr[data-variant='played'] th").inner_text() == "Wie gespielt"
    )
    assert "Min. früher" in page.locator("#debrief-table").inner_text()
    assert page.locator("#score-section").get_attribute("lang") == "de"
    assert page.evaluate("() => document.body.dataset.scored") in ("passed", "failed")
    total = page.locator("#score-total").inner_text()
    assert total.startswith(("Bestanden: ", "Nicht bestanden: "))
    assert " Punkte (Bestehensgrenze " in total
    assert page.locator("#score-h").inner_text() == "Punktzahl"
    _no_english(page)
    # after the end the chart shows the whole course of every measure, glucose included
    assert page.evaluate(
        "() => document.getElementById('vitals-plot').data"
        ".some(t => t.meta === 'glucose_mmol_per_l' && t.y.length === 61)"
    )
    page.screenshot(path=str(shots / "education-score.png"), full_page=True)

    # reopened later, the finished session shows its score again
    page.reload()
    page.wait_for_function("() => document.body.dataset.scored !== undefined", timeout=120_000)
    assert page.locator("#score-total").inner_text() == total
    _no_english(page)
    _no_csp_violation(page)
    assert page.problems == []


def test_the_start_page_follows_the_browsers_language(browser: Any, site: tuple[str, str]) -> None:
    root, token = site
    context = browser.new_context(locale="fr-FR")
    context.add_init_script(CSP_LISTENER)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{root}/dashboard/education#token={token}")
        page.wait_for_function("() => Number(document.body.dataset.casesLoaded || 0) > 0")
        assert page.locator("html").get_attribute("lang") == "fr"
        assert page.locator("h1").inner_text() == "Formation"
        assert page.locator("#start-button").inner_text() == "Démarrer le cas"
        assert page.locator("#locale-select").input_value() == "fr"
        assert "Somnolente dans le service" in page.locator("#case-select").inner_text()
        _no_csp_violation(page)
        assert problems == []
    finally:
        context.close()


@pytest.fixture(scope="module")
def job_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server whose every debrief is too large to answer at once: each runs as a job."""
    keys = Keys.make()
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('edu-jobs') / 'store.sqlite'}")
    port = free_port()
    app = create_app(store, base_url=f"http://127.0.0.1:{port}/fhir", security=config(keys))
    app.state.education = EducationRegistry(sync_debrief_twin_min=1.0)
    token = keys.sign(claims("clinician", sub="learner-jobs", lifetime_s=1800))
    try:
        with serving(app, port) as root:
            yield root, token
    finally:
        store.close()


def test_a_debrief_job_is_followed_and_shown_when_done(
    page: Any, job_site: tuple[str, str], shots: Path
) -> None:
    root, token = job_site
    page.goto(f"{root}/dashboard/education#token={token}")
    page.wait_for_function("() => Number(document.body.dataset.casesLoaded || 0) > 0")
    page.select_option("#case-select", "hypoglycaemia")
    page.click("#start-button")
    page.wait_for_url("**/dashboard/education/es-*")
    _wait_chart(page, None)
    page.fill("#draws-input", "2")
    page.click("#end-button")
    # the score comes at once, the debrief when its job has run
    page.wait_for_function("() => document.body.dataset.scored !== undefined", timeout=120_000)
    page.wait_for_function(
        "() => document.body.dataset.debriefJob === 'succeeded'", timeout=120_000
    )
    # no action was taken: the case as played and the expert pathway
    assert page.locator("#debrief-table tbody tr").count() == 2
    expert = page.locator("#debrief-table tr[data-variant='expert'] th").inner_text()
    assert expert == "Expert pathway"
    assert page.locator("#debrief-table tr[data-variant='played']").count() == 1
    page.screenshot(path=str(shots / "education-debrief-job.png"), full_page=True)
    _no_csp_violation(page)
    assert page.problems == []
