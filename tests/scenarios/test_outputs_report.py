"""What a world run writes: CSVs with the new numbers and a readable, self-contained report."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.scenarios.test_world_results_summary import small_world

from healthtwin.scenarios import WorldResult, parse_world, run_world, write_outputs
from healthtwin.scenarios import outputs as outputs_module
from healthtwin.scenarios.outputs import KEY_NUMBERS


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[WorldResult, Path]:
    result = run_world(parse_world(small_world()))
    out = tmp_path_factory.mktemp("world")
    write_outputs(result, out)
    return result, out


class _Page(HTMLParser):
    """Tables (rows of cell texts, by id), images' alt texts, figures and header scopes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.alts: list[str] = []
        self.figures = self.captions = 0
        self.scopes: list[str | None] = []
        self.external: list[str] = []
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id") or f"t{len(self.tables)}", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = []
            if tag == "th":
                self.scopes.append(a.get("scope"))
        elif tag == "img":
            self.alts.append(a.get("alt") or "")
        elif tag == "figure":
            self.figures += 1
        elif tag == "figcaption":
            self.captions += 1
        for key in ("src", "href"):
            if (a.get(key) or "").startswith(("http", "//")):
                self.external.append(a[key] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _page(out: Path) -> _Page:
    page = _Page()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    return page


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_figure_has_a_y_label_a_caption_and_alt_text(
    written: tuple[WorldResult, Path],
) -> None:
    page = _page(written[1])
    assert len(page.alts) == 4 == page.figures == page.captions
    for alt in page.alts:
        label = alt.split("y-axis:")[1].strip()
        assert re.fullmatch(r".+\(.+\)", label), alt  # a quantity and its unit in brackets
    assert all(scope in ("row", "col") for scope in page.scopes)
    assert page.external == []


def test_the_key_numbers_table_is_the_summary(written: tuple[WorldResult, Path]) -> None:
    _, out = written
    summary = json.loads((out / "summary.json").read_text())
    table = _page(out).tables["key-numbers"]
    assert table[0] == ["quantity", "X"]
    assert len(table) == 1 + len(KEY_NUMBERS)
    s = summary["countries"]["X"]
    for (key, _, _), row in zip(KEY_NUMBERS, table[1:], strict=True):
        value = s[key]
        got = _numbers(row[1])
        if key == "attack_rate":
            assert got == pytest.approx([100 * value[1], 100 * value[0], 100 * value[2]], abs=0.06)
        elif isinstance(value, list):
            assert got == pytest.approx([value[1], value[0], value[2]], abs=0.06), key
        else:
            assert got == [value]
    text = (out / "report.html").read_text()
    assert "range of 2 replicates" in text
    assert "to day 28" in text
    assert "5 %, 95 %" not in text
    assert "growing at day 28 in " in text


def test_the_report_shows_waiting_links_regions_and_the_monitor_as_tables(
    written: tuple[WorldResult, Path],
) -> None:
    result, out = written
    page = _page(out)
    text = (out / "report.html").read_text()
    assert "<pre>" not in text  # the monitor is a table, not a JSON dump
    assert "Links between scales" in text
    assert "Regions" in text
    links = next(
        t for t in page.tables.values() if t and t[0][:2] == ["hospital", "catchment region"]
    )
    assert [row[:3] for row in links[1:]] == [["ha", "a", "100%"], ["hb", "b", "100%"]]
    hospitals = next(t for t in page.tables.values() if t and "waiting person-days by unit" in t[0])
    summary = result.summary()["countries"]["X"]["hospitals"]
    ward = summary["ha"]["queue_days"]["ward"]
    assert ward[1] > 0  # person-days: one decimal
    assert f"ward: {ward[1]:.1f} [{ward[0]:.1f}, {ward[2]:.1f}] (4 beds)" in hospitals[1][6]
    # Whole counts print without decimals.
    assert outputs_module._fmt([104482.0, 104500.0, 105000.0]) == "104500 [104482, 105000]"
    assert outputs_module._fmt([1.0, 2.5, 3.0]) == "2.5 [1.0, 3.0]"
    assert "_" not in " ".join(cell for t in page.tables.values() for row in t for cell in row[:1])


def test_the_csvs_carry_waiting_regions_and_patients(written: tuple[WorldResult, Path]) -> None:
    result, out = written
    c = result.countries[0]
    summary = result.summary()["countries"]["X"]["hospitals"]
    daily = _rows(out / "hospitals.csv")
    for h, name in enumerate(c.hospitals):
        for rep in range(2):
            mine = [r for r in daily if r["hospital"] == name and r["replicate"] == str(rep)]
            ward = sum(float(r["ward_waiting"]) for r in mine)
            assert ward == pytest.approx(c.hospital_runs[rep][h].queue_days[:, 0].sum(), abs=0.02)
    totals = _rows(out / "hospital_totals.csv")
    assert list(totals[0]) == ["country", "hospital", "quantity", "min", "median", "max"]
    row = next(r for r in totals if r["hospital"] == "hb" and r["quantity"] == "peak_waiting.ward")
    assert [float(row[k]) for k in ("min", "median", "max")] == pytest.approx(
        summary["hb"]["peak_waiting"]["ward"], rel=1e-5
    )
    regions = _rows(out / "regions.csv")
    infections = {r["region"]: float(r["median"]) for r in regions if r["quantity"] == "infections"}
    assert sum(infections.values()) == pytest.approx(
        np.median(c.epidemic.incidence.sum(axis=(1, 2))), rel=1e-5
    )
    assert {r["quantity"] for r in regions} == {
        "infections", "attack_rate", "admissions", "peak_admissions_day", "peak_icu_demand"
    }  # fmt: skip
    patients = _rows(out / "patients.csv")
    assert {r["age_band"] for r in patients} == set(c.epidemic.age_groups)
    for name in c.hospitals:
        mine = [r for r in patients if r["hospital"] == name]
        assert sum(int(r["patients"]) for r in mine) == summary[name]["patients"]["patients"]
        assert sum(int(r["deaths"]) for r in mine) == sum(
            b["deaths"] for b in summary[name]["patients"]["by_age_band"].values()
        )
    header = _rows(out / "national.csv")[0]
    assert list(header)[3:] == ["min", "median", "max"]


def test_without_patients_there_is_no_patients_csv(tmp_path: Path) -> None:
    world: dict[str, Any] = small_world(days=14, patients=False)
    names = {p.name for p in write_outputs(run_world(parse_world(world)), tmp_path)}
    assert "patients.csv" not in names
    assert {"regions.csv", "hospitals.csv", "hospital_totals.csv", "report.html"} <= names
    assert "not recorded" in (tmp_path / "report.html").read_text()
