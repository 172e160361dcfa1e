"""Read a mapping from YAML, with every mistake reported at its YAML path.

Concept maps may be written inline or kept in their own file (``{file: dx.json}``, a FHIR
ConceptMap in JSON or YAML); files and the ``data`` exports are resolved relative to the
mapping file. All problems are collected and raised together as one
:class:`~healthtwin.errors.ResourceValidationError`, each issue with its path
(``columns.temp.unit: unknown UCUM unit 'degF' ...; did you mean '[degF]'?``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from healthtwin.errors import InvalidInputError, ResourceValidationError, ValidationIssue
from healthtwin.interop.harmonize.elements import yaml_path
from healthtwin.interop.harmonize.mapping_spec import MappingIssuesError, MappingSpec

__all__ = ["load_mapping", "mapping_from_dict", "mapping_json_schema"]


def load_mapping(path: str | Path) -> MappingSpec:
    """Read and validate a mapping YAML file.

    Parameters
    ----------
    path
        The YAML file. Relative ``data`` files and concept-map files are resolved against
        its folder.

    Returns
    -------
    MappingSpec
        The validated mapping (``data`` as absolute paths, concept-map files read in).

    Raises
    ------
    InvalidInputError
        If the file cannot be read or is not YAML.
    ResourceValidationError
        If the mapping breaks the schema; ``issues`` holds every problem with its path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "site.yaml").write_text(
    ...     "source: demo\\nlayout: wide\\ntimezone: Europe/Berlin\\n"
    ...     "columns:\\n  id: Patient.id\\n  temp: {element: value, vital: body_temperature, "
    ...     "unit: degF}\\n  time: Observation.effectiveDateTime\\n")
    >>> load_mapping(folder / "site.yaml")
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: .../site.yaml has 1 problem:
      columns.temp.unit: unknown UCUM unit 'degF' at position 0 of 'degF'; did you mean '[degF]'? (UCUM codes are case-sensitive)
    """  # noqa: E501
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInputError(
            f"cannot read mapping file {str(path)!r}: {err.strerror}; check the path"
        ) from err
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInputError(f"mapping file {str(path)!r} is not valid YAML: {err}") from err
    return mapping_from_dict(document, base_dir=path.parent, origin=str(path))


def mapping_from_dict(
    document: object, *, base_dir: str | Path | None = None, origin: str = "mapping"
) -> MappingSpec:
    """Validate a mapping given as plain data (the parsed YAML).

    ``base_dir`` (default: the working directory) resolves relative files; ``origin``
    names the mapping in error messages.

    Raises
    ------
    ResourceValidationError
        If the mapping breaks the schema (every problem listed with its path).

    Examples
    --------
    >>> spec = mapping_from_dict({"source": "s", "layout": "wide", "timezone": "UTC",
    ...                           "columns": {"pid": "patient_id"}})
    >>> spec.columns["pid"].element
    'Patient.id'
    """
    if not isinstance(document, dict):
        raise ResourceValidationError(
            f"{origin} must be a YAML mapping of settings; got {type(document).__name__}",
            (ValidationIssue("", "expected a mapping at the top level", "structure"),),
        )
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    document, issues = _read_files(dict(document), base)
    try:
        spec = MappingSpec.model_validate(document)
    except ValidationError as err:
        issues.extend(_issues_of(err))
    if issues:
        count = f"{len(issues)} problem" + ("s" if len(issues) > 1 else "")
        lines = "\n".join(f"  {issue.path}: {issue.message}" for issue in issues)
        raise ResourceValidationError(f"{origin} has {count}:\n{lines}", tuple(issues))
    return spec


def _read_files(
    document: dict[str, Any], base: Path
) -> tuple[dict[str, Any], list[ValidationIssue]]:
    issues: list[ValidationIssue] = []
    if isinstance(document.get("data"), str):
        document["data"] = str(base / document["data"])
    maps = document.get("concept_maps")
    if not isinstance(maps, dict):
        return document, issues
    resolved: dict[str, Any] = {}
    for name, value in maps.items():
        if isinstance(value, dict) and set(value) == {"file"}:
            where = yaml_path(("concept_maps", str(name), "file"))
            try:
                resolved[name] = _read_structured(base / str(value["file"]))
            except InvalidInputError as err:
                issues.append(ValidationIssue(where, str(err), "not-found"))
                continue
        else:
            resolved[name] = value
    document["concept_maps"] = resolved
    return document, issues


def _read_structured(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInputError(f"cannot read {str(path)!r}: {err.strerror}") from err
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise InvalidInputError(f"{str(path)!r} is not valid JSON or YAML: {err}") from err


def _issues_of(err: ValidationError) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    for error in err.errors():
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, MappingIssuesError):
            issues.extend(cause.issues)
            continue
        message = error["msg"].removeprefix("Value error, ")
        received = error.get("input")
        if error["type"] != "value_error" and isinstance(received, str | int | float | bool):
            message += f"; got {received!r}"
        code = "required" if error["type"] == "missing" else "value"
        issues.append(ValidationIssue(yaml_path(error["loc"]), message, code))
    return issues


def mapping_json_schema() -> dict[str, Any]:
    """The JSON schema of a mapping file, for editors and for validating YAML elsewhere.

    Examples
    --------
    >>> schema = mapping_json_schema()
    >>> sorted(schema["required"])
    ['columns', 'layout', 'source', 'timezone']
    """
    schema = MappingSpec.model_json_schema()
    properties = schema["properties"]
    properties["columns"]["additionalProperties"] = {
        "anyOf": [
            properties["columns"]["additionalProperties"],
            {"type": "string", "description": "shorthand for {element: <this string>}"},
        ]
    }
    properties["concept_maps"]["additionalProperties"] = {
        "anyOf": [
            properties["concept_maps"]["additionalProperties"],
            {
                "type": "object",
                "properties": {"file": {"type": "string"}},
                "required": ["file"],
                "additionalProperties": False,
                "description": "a FHIR ConceptMap in a JSON or YAML file beside the mapping",
            },
        ]
    }
    return schema
