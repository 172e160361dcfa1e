"""De-identification of FHIR resources and bundles, as plain dicts.

Tables are handled column by column in :mod:`healthtwin.governance.deidentify_table` with
the same key, shifts and report.

What happens to each element (the identifier letters are those of
:mod:`healthtwin.governance.safe_harbor`):

- resource ids and references become keyed-HMAC pseudonyms (R), consistently across
  resources, so ``Observation.subject`` still points at the (pseudonymous) Patient; base
  URLs and ``_history`` parts of references are dropped; ``urn:uuid`` stays a UUID;
- dates are shifted by a per-patient number of days drawn from an HMAC of the patient's
  reference (C, intervals within a patient kept), or cut to the year (``dates_to_year``,
  Safe Harbor); patients aged over 89 lose their birth date, ``*Age`` values over 89
  become ``>= 90``;
- addresses keep state and country, and a US ZIP code keeps its first three digits
  (``000`` for the 17 small areas) (B); ``Location.position`` goes;
- names (A), contact points (D, E, F, N), identifiers (G-L, P, R by their type),
  device serial, lot and UDI (M), photos (Q) and attachment contents go;
- free text goes: narratives (``text.div``), ``note`` (Annotation), ``valueString``,
  ``comment``, ``description`` and the other keys of ``free_text_keys``, and the
  ``display`` of references (they often hold names); a ``url`` outside an extension (N);
- any other string that looks like an e-mail, URL, IP address, SSN or phone number is
  removed as a last guard.

The key is never written into the output; run the same data twice under the same key and
the output is identical.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.governance.generalise import (
    AGE_TOP_CODE,
    age_years,
    date_to_year,
    generalise_age,
    is_fhir_date,
    shift_date,
    zip3,
)
from healthtwin.governance.pseudonyms import PseudonymKey, format_urn_uuid
from healthtwin.governance.safe_harbor import (
    FindingLog,
    Handling,
    HipaaIdentifier,
    SafeHarborReport,
    restricted_zip3,
)

__all__ = [
    "DEFAULT_FREE_TEXT_KEYS",
    "DROP",
    "DeidentificationConfig",
    "DeidentificationRun",
    "deidentify_bundle",
    "deidentify_resource",
]

H = HipaaIdentifier
#: Keys whose string values are free text and are removed wherever they occur.
DEFAULT_FREE_TEXT_KEYS = frozenset(
    {
        "text",
        "div",
        "note",
        "comment",
        "description",
        "valueString",
        "valueMarkdown",
        "patientInstruction",
        "conclusion",
        "summary",
        "title",
    }
)
_DEVICE_KEYS = frozenset({"serialNumber", "lotNumber", "udiCarrier", "distinctIdentifier"})
_PATIENT_LINKS = ("subject", "patient", "beneficiary", "individual")
# Terminology and structure: never scanned as free text.
_STRUCTURAL_KEYS = frozenset(
    {
        "system",
        "url",
        "profile",
        "code",
        "version",
        "status",
        "unit",
        "use",
        "gender",
        "contentType",
        "language",
        "resourceType",
        "valueSet",
        "mode",
    }
)
_REFERENCE = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://\S+?/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9.\-]{1,64})"
    r"(?:/_history/[A-Za-z0-9.\-]{1,64})?$"
)
_RESIDUAL: tuple[tuple[HipaaIdentifier, re.Pattern[str]], ...] = (
    (H.F, re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")),
    (H.N, re.compile(r"(?i)\b(?:https?|ftp)://|\bwww\.[\w-]+\.")),
    (H.O, re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b")),
    (H.G, re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    (H.D, re.compile(r"\+?\(?\d{2,4}\)?[\s.-]\d{3}[\s.-]?\d{3,4}\b")),
)
# Identifier.type codes (HL7 v2 table 0203) and words in type text or system, tried in
# order: biometric and vehicle words first ("template" holds "plate", "licence plate" "licen").
_IDENTIFIER_TYPES: tuple[tuple[HipaaIdentifier, frozenset[str], tuple[str, ...]], ...] = (
    (H.G, frozenset({"SS", "SSN"}), ("us-ssn", "social security")),
    (H.H, frozenset({"MR", "MRN", "PI"}), ("medical record",)),
    (H.I, frozenset({"SN", "MB", "MA", "MC", "NH"}), ("member", "beneficiary", "health plan")),
    (H.J, frozenset({"AN", "AND", "ANON", "ANT"}), ("account",)),
    (H.P, frozenset(), ("biometric", "fingerprint", "voice", "retina", "iris")),
    (H.L, frozenset(), ("vehicle", "vin", "plate")),
    (H.K, frozenset({"DL", "PPN", "MD", "LN", "NPI", "DEA", "PRN"}), ("licen", "passport")),
    (H.M, frozenset({"UDI", "SNO"}), ("device", "serial", "udi")),
)


@dataclass(frozen=True, kw_only=True)
class DeidentificationConfig:
    """How to de-identify.

    Attributes
    ----------
    key : PseudonymKey
        The secret behind pseudonyms and date shifts (never written out).
    shift_range_days : tuple of int
        Inclusive range of the per-patient date shift; 0 is never drawn.
    dates_to_year : bool
        Keep only the year of every date (Safe Harbor) instead of shifting.
    age_reference_date : datetime.date or None
        The day ages are computed on for living patients (default: today).
    restricted_zip3 : frozenset of str or None
        Three-digit ZIP areas written ``000`` (default: the HHS 2000 Census list).
    free_text_keys : frozenset of str
        Keys removed wherever they occur (:data:`DEFAULT_FREE_TEXT_KEYS`).
    """

    key: PseudonymKey
    shift_range_days: tuple[int, int] = (-182, 182)
    dates_to_year: bool = False
    age_reference_date: dt.date | None = None
    restricted_zip3: frozenset[str] | None = None
    free_text_keys: frozenset[str] = DEFAULT_FREE_TEXT_KEYS

    def __post_init__(self) -> None:
        if not isinstance(self.key, PseudonymKey):
            raise InvalidParameterError(
                f"key must be a PseudonymKey, got {type(self.key).__name__}; wrap the "
                "secret bytes: PseudonymKey(secret)"
            )
        low, high = self.shift_range_days
        self.key.shift_days("range check", low, high)


@dataclass
class DeidentificationRun:
    """State of one de-identification call: the tally and the patient of each resource.

    Created per call and never shared; :mod:`healthtwin.governance.deidentify_table` uses
    it for tables.
    """

    config: DeidentificationConfig
    log: FindingLog = field(default_factory=FindingLog)
    patient_of: dict[int, str] = field(default_factory=dict)
    patient: str = ""
    top_coded: set[str] = field(default_factory=set)
    zip_areas: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.zip_areas = self.config.restricted_zip3 or restricted_zip3()

    def pseudonym(self, namespace: str, value: str) -> str:
        return self.config.key.pseudonym(namespace, value)

    def reference(self, ref: str) -> str | None:
        if ref.startswith("#"):
            return "#" + self.pseudonym("#", ref[1:]) if len(ref) > 1 else ref
        if ref.startswith(("urn:uuid:", "urn:oid:")):
            return format_urn_uuid(self.pseudonym("urn", ref))
        match = _REFERENCE.match(ref)
        if match is None:
            return None
        return f"{match['type']}/{self.pseudonym(match['type'], match['id'])}"

    def date(self, text: str, where: str, patient: str | None = None) -> str:
        if self.config.dates_to_year:
            self.log.record(H.C, Handling.GENERALISED, where)
            return date_to_year(text)
        self.log.record(H.C, Handling.SHIFTED, where)
        low, high = self.config.shift_range_days
        who = self.patient if patient is None else patient
        return shift_date(text, self.config.key.shift_days(who, low, high))


def deidentify_resource(
    resource: Mapping[str, Any], config: DeidentificationConfig
) -> tuple[dict[str, Any], SafeHarborReport]:
    """De-identify one FHIR resource (a dict); a Bundle is handled as a whole.

    Returns
    -------
    resource : dict
        A new dict; the input is not modified.
    report : SafeHarborReport

    Examples
    --------
    >>> key = PseudonymKey(b"k" * 32)
    >>> config = DeidentificationConfig(key=key, age_reference_date=dt.date(2024, 1, 1))
    >>> patient = {"resourceType": "Patient", "id": "mrn-7", "name": [{"family": "Doe"}],
    ...            "birthDate": "1930-05-17", "address": [{"postalCode": "03601",
    ...            "city": "Colebrook", "state": "NH"}]}
    >>> out, report = deidentify_resource(patient, config)
    >>> out["address"], "birthDate" in out, out["id"] == key.pseudonym("Patient", "mrn-7")
    ([{'postalCode': '000', 'state': 'NH'}], False, True)
    >>> report.finding("A").handling
    (<Handling.REMOVED: 'removed'>,)
    """
    if not isinstance(resource, Mapping) or "resourceType" not in resource:
        raise InvalidInputError(
            f"expected a FHIR resource dict with a resourceType, got {type(resource).__name__}"
        )
    if resource.get("resourceType") == "Bundle":
        return deidentify_bundle(resource, config)
    bundle, report = deidentify_bundle(
        {"resourceType": "Bundle", "entry": [{"resource": resource}]}, config
    )
    return bundle["entry"][0]["resource"], report


def deidentify_bundle(
    bundle: Mapping[str, Any], config: DeidentificationConfig
) -> tuple[dict[str, Any], SafeHarborReport]:
    """De-identify a FHIR Bundle: entries, full URLs, request and response URLs.

    Each resource's patient is itself (Patient) or the Patient its ``subject``,
    ``patient``, ``beneficiary`` or ``individual`` references (directly or through an
    entry's ``fullUrl``); its dates get that patient's shift. Resources without a patient
    share one shift.

    Raises
    ------
    InvalidInputError
        The input is not a Bundle dict with a list of entries.
    """
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        got = bundle.get("resourceType") if isinstance(bundle, Mapping) else type(bundle)
        raise InvalidInputError(
            f"expected a FHIR Bundle dict, got resourceType {got!r}; pass a Bundle, or use "
            "deidentify_resource for one resource"
        )
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidInputError(f"Bundle.entry must be a list, got {type(entries).__name__}")
    run = DeidentificationRun(config)
    _assign_patients(run, entries)
    out: dict[str, Any] = {}
    for key, value in bundle.items():
        if key == "entry":
            out[key] = [_entry(run, e) for e in entries]
        elif key in {"resourceType", "type", "total"}:
            out[key] = value
        elif key == "id":
            out[key] = run.pseudonym("Bundle", str(value))
        elif key in {"timestamp", "meta"}:
            run.patient = ""
            out[key] = _walk(run, value, "Bundle", "Bundle." + key)
    return out, run.log.report()


def _entry(run: DeidentificationRun, entry: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "fullUrl" in entry:
        mapped = run.reference(str(entry["fullUrl"]))
        if mapped is not None:
            out["fullUrl"] = (
                mapped if mapped.startswith("urn:") else format_urn_uuid(mapped.split("/")[1])
            )
    if "resource" in entry:
        resource = entry["resource"]
        run.patient = run.patient_of.get(id(resource), "")
        out["resource"] = _resource(run, resource)
    for part, url_key in (("request", "url"), ("response", "location")):
        if part in entry:
            item = {k: v for k, v in entry[part].items() if k in {"method", "status", url_key}}
            if url_key in item:
                target = str(item[url_key])
                item[url_key] = run.reference(target) or target.split("?")[0].split("/")[0]
            out[part] = item
    return out


def _assign_patients(run: DeidentificationRun, entries: Sequence[Mapping[str, Any]]) -> None:
    # A patient is keyed by "Patient/<id>", or by its fullUrl when it has no id.
    patients: dict[str, str] = {}
    for entry in entries:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") != "Patient":
            continue
        full_url = str(entry.get("fullUrl", ""))
        key = f"Patient/{resource['id']}" if "id" in resource else full_url
        patients[key] = key
        if full_url:
            patients[full_url] = key
        run.patient_of[id(resource)] = key
        _check_age(run, resource, key)
    for entry in entries:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") != "Patient":
            run.patient_of[id(resource)] = _patient_of(resource, patients)


def _patient_of(resource: Mapping[str, Any], patients: Mapping[str, str]) -> str:
    if resource.get("resourceType") == "Patient":
        return f"Patient/{resource.get('id', '')}"
    for key in _PATIENT_LINKS:
        link = resource.get(key)
        ref = link.get("reference") if isinstance(link, Mapping) else None
        if isinstance(ref, str):
            if ref in patients:
                return patients[ref]
            match = _REFERENCE.match(ref)
            if match and match["type"] == "Patient":
                return f"Patient/{match['id']}"
    return ""


def _check_age(run: DeidentificationRun, patient: Mapping[str, Any], key: str) -> None:
    birth = patient.get("birthDate")
    if not isinstance(birth, str):
        return
    died = patient.get("deceasedDateTime")
    on = run.config.age_reference_date or dt.date.today()
    if isinstance(died, str) and is_fhir_date(died):
        on = dt.date.fromisoformat(died[:10]) if len(died) >= 10 else on
    age = age_years(birth, on)
    if age is not None and age >= AGE_TOP_CODE:
        run.top_coded.add(key)


def _resource(run: DeidentificationRun, resource: Mapping[str, Any]) -> dict[str, Any]:
    rtype = str(resource.get("resourceType", "Resource"))
    out: dict[str, Any] = _walk(run, resource, rtype, rtype)
    if run.patient in run.top_coded and rtype == "Patient":
        run.log.record(H.C, Handling.GENERALISED, "Patient.birthDate (age 90+)")
        out.pop("birthDate", None)
        tag = {"system": "urn:healthtwin:deidentification", "code": "age-90-or-older"}
        out.setdefault("meta", {}).setdefault("tag", []).append(tag)
    return out


def _walk(run: DeidentificationRun, value: Any, rtype: str, path: str) -> Any:
    if isinstance(value, Mapping):
        return _walk_dict(run, value, rtype, path)
    if isinstance(value, list):
        return [_walk(run, v, rtype, path) for v in value]
    return value


def _walk_dict(
    run: DeidentificationRun, node: Mapping[str, Any], rtype: str, path: str
) -> dict[str, Any]:
    if "resourceType" in node:
        rtype = path = str(node["resourceType"])
    if _is_attachment(node):
        return _attachment(run, node, path)
    out: dict[str, Any] = {}
    for key, value in node.items():
        where = f"{path}.{key}"
        handler = _HANDLERS.get(key)
        if handler is not None:
            kept = handler(run, value, node, where)
            if kept is not DROP:
                out[key] = kept
            continue
        if key in run.config.free_text_keys or (key == "text" and isinstance(value, Mapping)):
            run.log.free_text_removed += 1
            continue
        if key == "url" and not _is_extension(node):
            run.log.record(H.N, Handling.REMOVED, where)
            continue
        if key == "display" and "code" not in node:
            run.log.record(H.A, Handling.REMOVED, where)
            continue
        if key.endswith("Age") and isinstance(value, Mapping):
            out[key] = _age_value(run, value, where)
            continue
        kept = _leaf(run, key, value, rtype, where, node)
        # FHIR forbids empty objects and arrays (ele-1): drop what removal emptied.
        if kept is not DROP and kept != {} and kept != []:
            out[key] = kept
    return out


def _leaf(
    run: DeidentificationRun, key: str, value: Any, rtype: str, where: str, node: Mapping[str, Any]
) -> Any:
    if key == "id":
        if "resourceType" not in node:
            return DROP
        run.log.record(H.R, Handling.PSEUDONYMISED, where)
        return run.pseudonym(rtype, str(value))
    if key == "reference" and isinstance(value, str):
        mapped = run.reference(value)
        run.log.record(H.R, Handling.PSEUDONYMISED if mapped else Handling.REMOVED, where)
        return DROP if mapped is None else mapped
    if isinstance(value, list):
        items = [_leaf(run, key, item, rtype, where, node) for item in value]
        return [item for item in items if item is not DROP and item != {}]
    if not isinstance(value, str):
        return _walk(run, value, rtype, where)
    if key in _STRUCTURAL_KEYS:
        return value
    if is_fhir_date(value):
        return run.date(value, where)
    for identifier, pattern in _RESIDUAL:
        if pattern.search(value):
            run.log.record(identifier, Handling.REMOVED, where)
            return DROP
    return value


class _Drop:
    """Marker for an element that is removed."""


DROP: Any = _Drop()


def _removed(
    identifier: HipaaIdentifier,
) -> Callable[[DeidentificationRun, Any, Mapping[str, Any], str], Any]:
    def handler(run: DeidentificationRun, value: Any, node: Mapping[str, Any], where: str) -> Any:
        for _ in value if isinstance(value, list) else [value]:
            run.log.record(identifier, Handling.REMOVED, where)
        return DROP

    return handler


def _free_text(run: DeidentificationRun, value: Any, node: Mapping[str, Any], where: str) -> Any:
    run.log.free_text_removed += len(value) if isinstance(value, list) else 1
    return DROP


def _contained(run: DeidentificationRun, value: Any, node: Mapping[str, Any], where: str) -> Any:
    out = []
    for resource in value if isinstance(value, list) else [value]:
        walked = _walk(run, resource, "Resource", where)
        if isinstance(resource, Mapping) and "id" in resource:
            walked["id"] = run.pseudonym("#", str(resource["id"]))
        out.append(walked)
    return out


def _telecom(run: DeidentificationRun, value: Any, node: Mapping[str, Any], where: str) -> Any:
    kinds = {"fax": H.E, "email": H.F, "url": H.N}
    for point in value if isinstance(value, list) else [value]:
        system = point.get("system", "phone") if isinstance(point, Mapping) else "phone"
        run.log.record(kinds.get(str(system), H.D), Handling.REMOVED, where)
    return DROP


def _identifier(run: DeidentificationRun, value: Any, node: Mapping[str, Any], where: str) -> Any:
    for item in value if isinstance(value, list) else [value]:
        run.log.record(_identifier_kind(item, where), Handling.REMOVED, where)
    return DROP


def _identifier_kind(item: Any, where: str) -> HipaaIdentifier:
    if not isinstance(item, Mapping):
        return H.R
    kind: Mapping[str, Any] = item["type"] if isinstance(item.get("type"), Mapping) else {}
    codings = [c for c in kind.get("coding", []) if isinstance(c, Mapping)]
    codes = {str(c.get("code", "")).upper() for c in codings}
    words = f"{kind.get('text', '')} {item.get('system', '')}".lower()
    for identifier, type_codes, keywords in _IDENTIFIER_TYPES:
        if codes & type_codes or any(word in words for word in keywords):
            return identifier
    return H.M if where.startswith("Device.") else H.R


def _address(run: DeidentificationRun, value: Any, node: Mapping[str, Any], where: str) -> Any:
    if isinstance(value, list):
        return [_one_address(run, a, where) for a in value]
    return _one_address(run, value, where)


def _one_address(run: DeidentificationRun, address: Any, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in address.items() if isinstance(address, Mapping) else ():
        if key in {"state", "country", "use", "type"}:
            out[key] = value
        elif key == "postalCode" and (short := zip3(str(value), run.zip_areas)) is not None:
            run.log.record(H.B, Handling.GENERALISED, f"{where}.postalCode")
            out[key] = short
        else:
            run.log.record(H.B, Handling.REMOVED, f"{where}.{key}")
    return out


def _is_extension(node: Mapping[str, Any]) -> bool:
    return any(key == "extension" or key.startswith("value") for key in node)


def _is_attachment(node: Mapping[str, Any]) -> bool:
    keys = set(node)
    return bool(keys & {"data", "contentType"}) and keys <= {
        "contentType",
        "language",
        "data",
        "url",
        "size",
        "hash",
        "title",
        "creation",
        "height",
        "width",
        "frames",
        "duration",
        "pages",
        "id",
        "extension",
    }


def _attachment(run: DeidentificationRun, node: Mapping[str, Any], where: str) -> dict[str, Any]:
    content_type = str(node.get("contentType", "application/octet-stream"))
    if content_type.startswith(("image/", "video/")):
        run.log.record(H.Q, Handling.REMOVED, where)
    else:
        run.log.free_text_removed += 1
    return {"contentType": content_type}


def _birth_date(run: DeidentificationRun, value: Any, node: Mapping[str, Any], where: str) -> Any:
    if run.patient in run.top_coded:
        return DROP
    return run.date(str(value), where) if is_fhir_date(str(value)) else value


def _age_value(run: DeidentificationRun, value: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = dict(value)
    number = value.get("value")
    if isinstance(number, int | float) and generalise_age(number) == f"{AGE_TOP_CODE}+":
        run.log.record(H.C, Handling.GENERALISED, where)
        out["value"], out["comparator"] = AGE_TOP_CODE, ">="
    return out


_HANDLERS: dict[str, Callable[[DeidentificationRun, Any, Mapping[str, Any], str], Any]] = {
    "name": _removed(H.A),
    "telecom": _telecom,
    "identifier": _identifier,
    "address": _address,
    "position": _removed(H.B),
    "photo": _removed(H.Q),
    "alias": _removed(H.A),
    "subscriberId": _removed(H.I),
    "note": _free_text,
    "contained": _contained,
    "birthDate": _birth_date,
    **{key: _removed(H.M) for key in _DEVICE_KEYS},
}
