"""Regenerate the three synthetic site exports of the same patients, and a defective copy.

One truth — three patients, three visits each, in standard units and UTC — written as
each "country" would export it:

- ``us_site.csv``: English columns, comma-separated, MM/DD/YYYY dates, local times in
  America/New_York, temperature in degrees Fahrenheit, glucose in mg/dL, weight in pounds,
  local problem-list codes, sex ``M``/``F``.
- ``de_site.csv``: German columns, semicolon-separated with decimal commas, DD.MM.YYYY
  dates in Europe/Berlin, Celsius, glucose in mmol/L, kilograms, German diagnosis names,
  ``männlich``/``weiblich``.
- ``fr_site.csv``: French, long layout (one row per measurement), ISO 8601 times with
  their offsets, decimal commas, glucose in g/L, French labels and units (``bpm``, ``°C``).
- ``de_site_defects.csv``: ``de_site.csv`` with deliberate defects (see ``DEFECTS``).

Every number is written exactly in decimal (temperature in one-decimal Celsius is exact
in two-decimal Fahrenheit; weight in whole pounds is exact in kilograms since
1 [lb_av] = 0.45359237 kg; glucose in one-decimal mmol/L is exact in mg/dL with
18.0156), so the harmonised values agree to rounding error.

Run: python tests/data/harmonisation/make_sites.py
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).parent
LB_KG = Decimal("0.45359237")
GLUCOSE_MG_DL_PER_MMOL_L = Decimal("18.0156")
VISITS = (
    datetime(2024, 3, 5, 13, 30, tzinfo=UTC),  # before any DST change
    datetime(2024, 3, 12, 14, 0, tzinfo=UTC),  # New York on summer time, Europe not yet
    datetime(2024, 4, 2, 7, 45, tzinfo=UTC),  # both on summer time
)


@dataclass(frozen=True)
class Person:
    id: str
    family: str
    birth: tuple[int, int, int]
    gender: str
    country: str
    diagnoses: tuple[tuple[str, datetime], ...]  # (key, onset)
    insulin_u: tuple[int, ...] = ()


PEOPLE = (
    Person(
        "P001", "Schmidt", (1956, 4, 3), "female", "DE",
        (("dm2", datetime(2015, 6, 1, 7, 0, tzinfo=UTC)),), (10, 12, 14),
    ),
    Person(
        "P002", "Dupont", (1948, 11, 23), "male", "FR",
        (
            ("htn", datetime(2010, 1, 15, 9, 0, tzinfo=UTC)),
            ("dm2", datetime(2019, 9, 10, 8, 0, tzinfo=UTC)),
        ),
    ),
    Person(
        "P003", "Smith", (1972, 7, 9), "female", "US",
        (("asthma", datetime(1990, 5, 20, 12, 0, tzinfo=UTC)),),
    ),
)  # fmt: skip
LABELS = {
    "us": {
        "dm2": "DM2", "htn": "HTN", "asthma": "ASTH", "female": "F", "male": "M",
        "DE": "Germany", "FR": "France", "US": "United States", "insulin": "GLARGINE",
    },
    "de": {
        "dm2": "Diabetes mellitus Typ 2", "htn": "Essentielle Hypertonie",
        "asthma": "Asthma bronchiale", "female": "weiblich", "male": "männlich",
        "DE": "Deutschland", "FR": "Frankreich", "US": "Vereinigte Staaten",
        "insulin": "Insulin glargin",
    },
    "fr": {
        "dm2": "Diabète de type 2", "htn": "Hypertension artérielle essentielle",
        "asthma": "Asthme", "female": "femme", "male": "homme", "DE": "Allemagne",
        "FR": "France", "US": "États-Unis", "insulin": "insuline glargine",
    },
}  # fmt: skip


def vitals(p: int, v: int) -> dict[str, Decimal]:
    """The truth of patient ``p`` at visit ``v``, in the units named by the keys."""
    return {
        "hr": Decimal(64 + 7 * p + 3 * v),
        "sbp": Decimal(118 + 9 * p + 4 * v),
        "dbp": Decimal(76 + 5 * p + 2 * v),
        "spo2": Decimal(98 - p - v % 2),
        "temp_c": Decimal("36.6") + Decimal("0.3") * p + Decimal("0.2") * v,
        "glucose_mmol_l": Decimal("5.8") + Decimal("1.3") * p + Decimal("0.7") * v,
        "weight_lb": Decimal(150 + 20 * p + v),
    }


def comma(value: Decimal) -> str:
    return format(value.normalize(), "f").replace(".", ",")


def dot(value: Decimal) -> str:
    return format(value.normalize(), "f")


def local(when: datetime, zone: str, pattern: str) -> str:
    return when.astimezone(ZoneInfo(zone)).strftime(pattern)


def visit_time(p: int, v: int) -> datetime:
    return VISITS[v] + timedelta(hours=p)


def us_rows() -> list[list[str]]:
    header = [
        "patient_id", "last_name", "dob", "sex", "country", "visit_time", "pulse_bpm",
        "sbp_mmhg", "dbp_mmhg", "spo2_pct", "temp_f", "glucose_mg_dl", "weight_lb",
        "problem_code", "problem_onset", "drug", "dose_units",
    ]  # fmt: skip
    labels, zone, rows = LABELS["us"], "America/New_York", [header]
    for p, person in enumerate(PEOPLE):
        for v in range(3):
            t = vitals(p, v)
            # The US problem list repeats each diagnosis on every visit (merged on import).
            key, onset = person.diagnoses[v % len(person.diagnoses)]
            dose = person.insulin_u[v] if person.insulin_u else None
            rows.append(
                [
                    person.id, person.family,
                    f"{person.birth[1]:02d}/{person.birth[2]:02d}/{person.birth[0]}",
                    labels[person.gender], labels[person.country],
                    local(visit_time(p, v), zone, "%m/%d/%Y %H:%M"),
                    dot(t["hr"]), dot(t["sbp"]), dot(t["dbp"]), dot(t["spo2"]),
                    dot(t["temp_c"] * Decimal("1.8") + 32),
                    dot(t["glucose_mmol_l"] * GLUCOSE_MG_DL_PER_MMOL_L), dot(t["weight_lb"]),
                    labels[key], local(onset, zone, "%m/%d/%Y %H:%M"),
                    labels["insulin"] if dose else "", str(dose) if dose else "",
                ]
            )  # fmt: skip
    return rows


def de_rows() -> list[list[str]]:
    header = [
        "Patientennummer", "Nachname", "Geburtsdatum", "Geschlecht", "Land", "Zeitpunkt",
        "Puls (/min)", "RR systolisch (mmHg)", "RR diastolisch (mmHg)", "SpO2 (%)",
        "Temperatur (°C)", "Glukose (mmol/l)", "Gewicht (kg)", "Diagnose", "Diagnosedatum",
        "Medikament", "Dosis (IE)",
    ]  # fmt: skip
    labels, zone, rows = LABELS["de"], "Europe/Berlin", [header]
    for p, person in enumerate(PEOPLE):
        for v in range(3):
            t = vitals(p, v)
            # Each diagnosis once, on the visit row of its index.
            diagnosis = person.diagnoses[v] if v < len(person.diagnoses) else None
            dose = person.insulin_u[v] if person.insulin_u else None
            rows.append(
                [
                    person.id, person.family,
                    f"{person.birth[2]:02d}.{person.birth[1]:02d}.{person.birth[0]}",
                    labels[person.gender], labels[person.country],
                    local(visit_time(p, v), zone, "%d.%m.%Y %H:%M"),
                    comma(t["hr"]), comma(t["sbp"]), comma(t["dbp"]), comma(t["spo2"]),
                    comma(t["temp_c"]), comma(t["glucose_mmol_l"]),
                    comma(t["weight_lb"] * LB_KG),
                    labels[diagnosis[0]] if diagnosis else "",
                    local(diagnosis[1], zone, "%d.%m.%Y %H:%M") if diagnosis else "",
                    labels["insulin"] if dose else "", str(dose) if dose else "",
                ]
            )  # fmt: skip
    return rows


def fr_rows() -> list[list[str]]:
    header = [
        "id_patient", "nom", "date_naissance", "sexe", "pays", "horodatage", "mesure",
        "valeur", "unite", "diagnostic", "date_diagnostic", "medicament", "dose_UI",
    ]  # fmt: skip
    labels, zone, rows = LABELS["fr"], "Europe/Paris", [header]
    for p, person in enumerate(PEOPLE):
        pending = list(person.diagnoses)
        for v in range(3):
            t = vitals(p, v)
            when = visit_time(p, v).astimezone(ZoneInfo(zone)).isoformat()
            measures = [
                ("FC", comma(t["hr"]), "bpm"),
                ("PAS", comma(t["sbp"]), "mmHg"),
                ("PAD", comma(t["dbp"]), "mmHg"),
                ("SpO2", comma(t["spo2"]), "%"),
                ("Temp", comma(t["temp_c"]), "°C"),
                ("Glycémie", comma(t["glucose_mmol_l"] * GLUCOSE_MG_DL_PER_MMOL_L / 100), "g/l"),
                ("Poids", comma(t["weight_lb"] * LB_KG), "kg"),
            ]
            for m, (code, value, unit) in enumerate(measures):
                diagnosis = pending.pop(0) if pending and m == 0 else None
                dose = person.insulin_u[v] if person.insulin_u and code == "Glycémie" else None
                rows.append(
                    [
                        person.id, person.family,
                        f"{person.birth[2]:02d}/{person.birth[1]:02d}/{person.birth[0]}",
                        labels[person.gender], labels[person.country], when, code, value,
                        unit, labels[diagnosis[0]] if diagnosis else "",
                        diagnosis[1].astimezone(ZoneInfo(zone)).isoformat() if diagnosis else "",
                        labels["insulin"] if dose else "", str(dose) if dose else "",
                    ]
                )  # fmt: skip
    return rows


#: Defects added to the German export: (kind, what it is).
DEFECTS = (
    ("implausible", "P003's third visit: temperature 376,0 typed for 37,6"),
    ("unparseable_date", "an added row dated 31.02.2024"),
    ("unmapped_code", "an added row whose only content is the diagnosis 'Morbus Beispiel'"),
    ("duplicate_row", "a copy of P001's first visit"),
    ("missing_required", "an added row of values without a patient number"),
    ("empty", "a blank row"),
)


def de_defect_rows() -> list[list[str]]:
    rows = de_rows()
    header, body = rows[0], rows[1:]
    temp = header.index("Temperatur (°C)")
    assert body[8][temp] == "37,6"
    body[8][temp] = "376,0"
    blank = [""] * len(header)
    bad_date = [*body[0][:5], "31.02.2024 10:00", *body[0][6:13], "", "", "", ""]
    unmapped = ["P002", "", "", "", "", "20.03.2024 09:00", *[""] * 7, "Morbus Beispiel",
                "", "", ""]  # fmt: skip
    no_patient = ["", "", "", "", "", "21.03.2024 09:00", "80", *[""] * 10]
    return [header, *body, bad_date, unmapped, body[0], no_patient, blank]


def write(name: str, rows: list[list[str]], delimiter: str) -> None:
    with (HERE / name).open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator="\n").writerows(rows)


def main() -> None:
    write("us_site.csv", us_rows(), ",")
    write("de_site.csv", de_rows(), ";")
    write("fr_site.csv", fr_rows(), ";")
    write("de_site_defects.csv", de_defect_rows(), ";")


if __name__ == "__main__":
    main()
