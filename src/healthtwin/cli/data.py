"""``healthtwin data import|export``: health data into and out of the store.

``import`` takes a FHIR JSON file (a Bundle or one resource), a folder of them, or a
site's CSV export with its harmonisation mapping (``--mapping site.yaml``); every file is
one all-or-nothing transaction, and the observations also land in the store's indexed
time series. ``export`` writes the store's patients as FHIR (one NDJSON file per resource
type, the FHIR Bulk Data format) or as OMOP CDM 5.4 CSV tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from rich.console import Console

from healthtwin.errors import InvalidInputError
from healthtwin.interop.fhir_bundle import bundle_to_patients, patients_to_bundle
from healthtwin.interop.fhir_checks import validate_resource
from healthtwin.interop.fhir_json import dump_resource, parse_json_safely, parse_resource
from healthtwin.interop.fhir_read import ReadContext
from healthtwin.interop.fhir_records import observation_to_record
from healthtwin.interop.records import ObservationRecord, PatientData, PatientRecord
from healthtwin.store import Store, open_store
from healthtwin.store.operations import AddObservations, RecordAudit, UpdateResource

__all__ = ["data_app", "import_file", "stored_patients"]

data_app = typer.Typer(help="Import and export health data (FHIR, OMOP, site CSV exports).")
_DATABASE_HELP = (
    "Database URL (default: $HEALTHTWIN_DATABASE_URL, else a SQLite file in the user data folder)."
)
#: Resource types read back from the store to rebuild patients for export.
_PATIENT_TYPES = (
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationAdministration",
    "MedicationRequest",
)


class ExportFormat(StrEnum):
    fhir = "fhir"
    omop = "omop"


def _bundle(document: dict[str, Any]) -> Bundle:
    parsed = parse_resource(document)
    if not isinstance(parsed, Bundle):
        raise InvalidInputError(f"expected a Bundle, got a {document.get('resourceType')}")
    return parsed


def _observations(patients: Sequence[PatientData]) -> list[ObservationRecord]:
    return [o for p in patients for o in p.observations]


def _resources_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    if document.get("resourceType") != "Bundle":
        return [dump_resource(validate_resource(parse_resource(document)))]
    bundle = validate_resource(_bundle(document))
    return [dump_resource(e.resource) for e in (bundle.entry or []) if e.resource is not None]


def import_file(
    store: Store, path: Path, mapping: Path | None, actor: str, default_zone: tzinfo = UTC
) -> dict[str, int]:
    """Import one file into ``store`` in one transaction; counts of what was written.

    ``default_zone`` is the zone of FHIR dates without a time (``2024-03-01``).
    """
    if mapping is not None or path.suffix.lower() in (".csv", ".tsv"):
        if mapping is None:
            raise InvalidInputError(
                f"{path} is a table: give its harmonisation mapping with --mapping site.yaml"
            )
        from healthtwin.interop.harmonize import harmonize

        source = harmonize(path, mapping)
        Console(stderr=True).print(source.quality.to_text())
        patients = list(source.patients)
        bundle = patients_to_bundle(patients)
        resources = [dump_resource(e.resource) for e in (bundle.entry or []) if e.resource]
    else:
        document = parse_json_safely(path.read_bytes())
        resources = _resources_of(document)
        patients = []
        if document.get("resourceType") == "Observation":
            resource = parse_resource(document)
            assert isinstance(resource, Observation)  # resourceType checked above
            single = observation_to_record(resource, ReadContext(default_zone=default_zone))
            patients = [
                PatientData(patient=PatientRecord(id=single.patient_id), observations=(single,))
            ]
        elif document.get("resourceType") == "Bundle":
            patients = bundle_to_patients(_bundle(document), default_zone=default_zone, check=False)
    observations = _observations(patients)
    refs = [f"{r['resourceType']}/{r['id']}" for r in resources if "id" in r]
    operations: list[Any] = [UpdateResource(r, upsert=True) for r in resources]
    if observations:
        # Re-importing a file replaces its observations instead of doubling the series.
        from healthtwin.store.operations import DeleteObservations

        operations.insert(0, DeleteObservations([o.id for o in observations]))
        operations.append(AddObservations(observations))
    operations.append(
        RecordAudit(
            actor=actor,
            action="import",
            resource_refs=refs[:1000],
            details={"file": str(path), "resources": len(resources)},
        )
    )
    store.write_transaction(operations)
    return {
        "resources": len(resources),
        "observations": len(observations),
        "patients": len({r["id"] for r in resources if r["resourceType"] == "Patient"}),
    }


def _files(source: Path) -> list[Path]:
    if source.is_dir():
        found = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".json", ".csv"))
        if not found:
            raise InvalidInputError(f"{source} holds no .json or .csv files")
        return found
    if not source.is_file():
        raise InvalidInputError(f"no file or folder at {source}")
    return [source]


@data_app.command("import")
def import_(
    source: Annotated[Path, typer.Argument(help="bundle.json, a folder of them, or export.csv.")],
    mapping: Annotated[
        Path | None, typer.Option(help="Harmonisation mapping (YAML) of a site's CSV export.")
    ] = None,
    database: Annotated[str | None, typer.Option(help=_DATABASE_HELP)] = None,
    actor: Annotated[str, typer.Option(help="Who imports, for the audit log.")] = "cli",
    default_zone: Annotated[
        str, typer.Option(help="IANA time zone of FHIR dates given without a time.")
    ] = "UTC",
) -> None:
    """Validate and import health data; each file is all-or-nothing."""
    try:
        zone = ZoneInfo(default_zone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidInputError(
            f"--default-zone {default_zone!r} is not an IANA time zone (e.g. Europe/Berlin)"
        ) from err
    store = open_store(database)
    console = Console(stderr=True)
    for path in _files(source):
        counts = import_file(store, path, mapping, actor, zone)
        console.print(
            f"{path}: {counts['patients']} patient(s), {counts['resources']} resource(s), "
            f"{counts['observations']} observation(s)"
        )


def stored_patients(store: Store) -> list[PatientData]:
    """Every stored patient with its records, rebuilt through a FHIR collection Bundle."""
    entries = [
        {"fullUrl": f"urn:healthtwin:{r['resourceType']}/{r['id']}", "resource": r}
        for kind in _PATIENT_TYPES
        for r in _without_meta(store.iter_resources(kind))
    ]
    if not entries:
        return []
    return bundle_to_patients(
        _bundle({"resourceType": "Bundle", "type": "collection", "entry": entries})
    )


def _without_meta(resources: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for resource in resources:
        yield {k: v for k, v in resource.items() if k != "meta"}


@data_app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="Folder to write into (created if missing).")],
    format: Annotated[
        ExportFormat, typer.Option(help="fhir (NDJSON per type) or omop (CSV).")
    ] = ExportFormat.fhir,
    database: Annotated[str | None, typer.Option(help=_DATABASE_HELP)] = None,
) -> None:
    """Export every stored patient as FHIR NDJSON or OMOP CDM 5.4 CSV tables."""
    store = open_store(database)
    patients = stored_patients(store)
    if not patients:
        raise InvalidInputError("the store holds no patients; import data first")
    out.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    if format is ExportFormat.omop:
        from healthtwin.interop.omop import export_omop_csv

        report = export_omop_csv(patients, out)
        console.print(f"wrote OMOP tables to {out}: {report.summary()}")
        return
    bundle = patients_to_bundle(patients)
    by_type: dict[str, list[str]] = {}
    for entry in bundle.entry or []:
        if entry.resource is None:
            continue
        resource = dump_resource(entry.resource)
        by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    for kind, lines in by_type.items():
        (out / f"{kind}.ndjson").write_text("\n".join(lines) + "\n")
    counts = ", ".join(f"{len(v)} {k}" for k, v in by_type.items())
    console.print(f"wrote FHIR NDJSON to {out}: {counts}")
