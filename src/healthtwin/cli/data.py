"""``healthtwin data import|export``: health data into and out of the store.

``import`` takes a FHIR JSON file (a Bundle or one resource), a folder of them, or a
site's CSV export with its harmonisation mapping (``--mapping site.yaml``); every file is
one all-or-nothing transaction, and the observations also land in the store's indexed
time series. ``export`` writes the store's patients as FHIR (one NDJSON file per resource
type, the FHIR Bulk Data format) or as OMOP CDM 5.4 CSV tables.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from healthtwin.cli.output import JsonOption, Output, QuietOption, output_for
from healthtwin.errors import InvalidInputError
from healthtwin.interop.fhir_bundle import bundle_to_patients, patients_to_bundle
from healthtwin.interop.fhir_checks import validate_resource
from healthtwin.interop.fhir_json import dump_resource, parse_json_safely, parse_resource
from healthtwin.interop.fhir_read import ReadContext
from healthtwin.interop.fhir_records import observation_to_record
from healthtwin.interop.records import ObservationRecord, PatientData
from healthtwin.store import Store, open_store
from healthtwin.store.operations import (
    AddObservations,
    DeleteObservations,
    Operation,
    RecordAudit,
    UpdateResource,
)

__all__ = ["IMPORT_MAX_BYTES", "IMPORT_MAX_ENTRIES", "data_app", "import_file", "stored_patients"]

#: Largest FHIR file ``import`` reads by default: a 100,000-observation Bundle is ~60 MB.
IMPORT_MAX_BYTES = 64 * 1024 * 1024
#: Most Bundle entries ``import`` reads by default (a 10^6-entry Bundle is refused).
IMPORT_MAX_ENTRIES = 200_000

data_app = typer.Typer(
    help="Import and export health data (FHIR, OMOP, site CSV exports).", no_args_is_help=True
)
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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of one import.

    An import builds millions of objects that all live until it ends; every full
    collection walks all of them, which cost a third of the validation time of a
    100,000-entry Bundle. Reference counting still frees what is dropped, and the
    collector resumes (as it was) afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _phase(timings: dict[str, float] | None, name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def _from_fhir(
    path: Path, default_zone: tzinfo, limits: dict[str, int], timings: dict[str, float] | None
) -> tuple[list[dict[str, Any]], list[ObservationRecord]]:
    """The resources of a FHIR JSON file as sent, and its observations as records.

    The file is decoded and scanned once and validated once (the Bundle model validates
    every entry); the stored bodies are the entries' JSON as received, not a re-dump.
    """
    with _phase(timings, "parse"):
        document = parse_json_safely(path.read_bytes(), **limits)
        resource = parse_resource(
            document,
            scanned=True,
            max_bytes=limits["max_bytes"],
            max_entries=limits["max_entries"],
        )
    with _phase(timings, "checks"):
        validate_resource(resource)
    with _phase(timings, "map"):
        if isinstance(resource, Bundle):
            entries = document.get("entry") or []
            resources = [e["resource"] for e in entries if "resource" in e]
            patients = bundle_to_patients(resource, default_zone=default_zone, check=False)
            return resources, [o for p in patients for o in p.observations]
        if isinstance(resource, Observation):
            context = ReadContext(default_zone=default_zone)
            return [document], [observation_to_record(resource, context)]
        return [document], []


def _from_table(
    path: Path, mapping: Path, timings: dict[str, float] | None, output: Output
) -> tuple[list[dict[str, Any]], list[ObservationRecord]]:
    """A site's table harmonised (its quality report printed) into resources and records."""
    from healthtwin.interop.harmonize import harmonize

    with _phase(timings, "parse"):
        source = harmonize(path, mapping)
    output.say(source.quality.to_text(), err=True)
    with _phase(timings, "map"):
        patients = list(source.patients)
        bundle = patients_to_bundle(patients, check=False)
    with _phase(timings, "checks"):
        validate_resource(bundle)
    with _phase(timings, "map"):
        resources = [dump_resource(e.resource) for e in (bundle.entry or []) if e.resource]
    return resources, [o for p in patients for o in p.observations]


def import_file(
    store: Store,
    path: Path,
    mapping: Path | None,
    actor: str,
    default_zone: tzinfo = UTC,
    *,
    max_bytes: int = IMPORT_MAX_BYTES,
    max_entries: int = IMPORT_MAX_ENTRIES,
    timings: dict[str, float] | None = None,
    output: Output | None = None,
) -> dict[str, int]:
    """Import one file into ``store`` in one transaction; counts of what was written.

    Parameters
    ----------
    store : Store
        Where to write.
    path : Path
        A FHIR JSON file (a Bundle or one resource) or, with ``mapping``, a site's table.
    mapping : Path, optional
        The harmonisation mapping (YAML) of a table.
    actor : str
        Who imports, for the audit event.
    default_zone : tzinfo
        The zone of FHIR dates without a time (``2024-03-01``).
    max_bytes, max_entries : int
        Largest FHIR file accepted, and most Bundle entries (see
        :func:`~healthtwin.interop.fhir_json.parse_json_safely`).
    timings : dict, optional
        If given, the seconds spent in ``parse``, ``checks``, ``map`` and ``store`` are
        added to it.
    output : Output, optional
        Where a table's quality report is printed (default: for a person, on stderr).

    Returns
    -------
    dict
        ``resources``, ``observations`` and ``patients`` written.

    Raises
    ------
    ResourceValidationError
        If the file is not valid FHIR or breaks one of our rules (nothing is written).
    InvalidInputError
        If a table comes without its mapping.
    """
    if mapping is None and path.suffix.lower() in (".csv", ".tsv"):
        raise InvalidInputError(
            f"{path} is a table: give its harmonisation mapping with --mapping site.yaml"
        )
    with _collector_paused():
        if mapping is not None:
            resources, observations = _from_table(path, mapping, timings, output or Output())
        else:
            limits = {"max_bytes": max_bytes, "max_entries": max_entries}
            resources, observations = _from_fhir(path, default_zone, limits, timings)
        _write(store, resources, observations, str(path), actor, timings)
    return {
        "resources": len(resources),
        "observations": len(observations),
        "patients": len({r["id"] for r in resources if r["resourceType"] == "Patient"}),
    }


def _write(
    store: Store,
    resources: list[dict[str, Any]],
    observations: list[ObservationRecord],
    source: str,
    actor: str,
    timings: dict[str, float] | None,
) -> None:
    """Write one import in one transaction: resources, their series rows, an audit event."""
    refs = [f"{r['resourceType']}/{r['id']}" for r in resources if "id" in r]
    operations: list[Operation] = [UpdateResource(r, upsert=True) for r in resources]
    if observations:
        # Re-importing a file replaces its observations instead of doubling the series.
        operations.insert(0, DeleteObservations([o.id for o in observations]))
        operations.append(AddObservations(observations))
    operations.append(
        RecordAudit(
            actor=actor,
            action="import",
            resource_refs=refs[:1000],
            details={"file": source, "resources": len(resources)},
        )
    )
    with _phase(timings, "store"):
        store.write_transaction(operations)


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
    max_mb: Annotated[
        float, typer.Option(help="Largest FHIR file read, in MiB.", min=0.001)
    ] = IMPORT_MAX_BYTES / 2**20,
    max_entries: Annotated[
        int, typer.Option(help="Most Bundle entries read from one file.", min=1)
    ] = IMPORT_MAX_ENTRIES,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Validate and import health data; each file is all-or-nothing.

    \b
    Example:
      healthtwin data import bundle.json --database sqlite:///healthtwin.db
      healthtwin data import export.csv --mapping site.yaml
    """
    try:
        zone = ZoneInfo(default_zone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidInputError(
            f"--default-zone {default_zone!r} is not an IANA time zone (e.g. Europe/Berlin)"
        ) from err
    store = open_store(database)
    output = output_for(json_output, quiet)
    files = _files(source)
    imported: list[dict[str, object]] = []
    with output.progress(f"importing {len(files)} file(s)", total=len(files)) as bar:
        for path in files:
            bar.describe(f"importing {path.name}")
            counts = import_file(
                store,
                path,
                mapping,
                actor,
                zone,
                max_bytes=round(max_mb * 2**20),
                max_entries=max_entries,
                output=output,
            )
            imported.append({"file": path, **counts})
            bar.advance()
    output.result(
        {"files": imported},
        *(
            f"{f['file']}: {f['patients']} patient(s), {f['resources']} resource(s), "
            f"{f['observations']} observation(s)"
            for f in imported
        ),
        err=True,
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
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Export every stored patient as FHIR NDJSON or OMOP CDM 5.4 CSV tables.

    \b
    Example:
      healthtwin data export --format omop --out omop/
    """
    store = open_store(database)
    patients = stored_patients(store)
    if not patients:
        raise InvalidInputError("the store holds no patients; import data first")
    out.mkdir(parents=True, exist_ok=True)
    output = output_for(json_output, quiet)
    if format is ExportFormat.omop:
        from healthtwin.interop.omop import export_omop_csv

        report = export_omop_csv(patients, out)
        output.result(
            {"format": "omop", "out": out, "summary": report.summary()},
            f"wrote OMOP tables to {out}: {report.summary()}",
            err=True,
        )
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
    output.result(
        {"format": "fhir", "out": out, "resources": {k: len(v) for k, v in by_type.items()}},
        f"wrote FHIR NDJSON to {out}: {counts}",
        err=True,
    )
