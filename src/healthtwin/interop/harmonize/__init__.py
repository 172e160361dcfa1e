"""Harmonisation across sites and countries: one declarative mapping per source.

Each site exports its data in its own shape: column names in its language, its units
(glucose in mg/dL or mmol/L, temperature in degrees Fahrenheit or Celsius, weight in
pounds or kilograms), its date formats and time zone, its local codes and labels. A
mapping (YAML, validated by :class:`MappingSpec`) declares that shape once; harmonising
maps every row to the shared records of :mod:`healthtwin.interop.records` with standard
codes (LOINC, SNOMED CT, RxNorm, ICD-10), standard UCUM units (:mod:`~healthtwin.interop.ucum`)
and UTC times, and reports the rows it could not map instead of dropping them.

- column -> FHIR element (``Patient.birthDate``, ``Observation.valueQuantity.value``);
- local code -> standard code through FHIR R4 ConceptMaps (inline or in a file);
- units by UCUM, converted to the unit of the vital in :mod:`healthtwin.interop.codes`;
- dates by strptime patterns, local times in the source's IANA time zone;
- labels in other languages (``männlich``, ``femme``) through value maps;
- a :class:`QualityReport` per source: completeness, implausible values, unmapped codes,
  unreadable cells, duplicate rows, each with its row numbers.

The CLI command ``healthtwin data import export.csv --mapping site.yaml`` calls
``harmonize("export.csv", "site.yaml")``; :func:`mapping_json_schema` gives the schema
for editors, :func:`referenced_sources` the files a mapping needs.
"""

from healthtwin.interop.harmonize.apply import HarmonizedSource, harmonize
from healthtwin.interop.harmonize.concept_map import ConceptMap, Translator, normalize_label
from healthtwin.interop.harmonize.loading import (
    load_mapping,
    mapping_from_dict,
    mapping_json_schema,
)
from healthtwin.interop.harmonize.mapping_spec import (
    ColumnSpec,
    CsvOptions,
    ExtraVital,
    MappingSpec,
)
from healthtwin.interop.harmonize.quality import ColumnQuality, Problem, QualityReport
from healthtwin.interop.harmonize.sources import referenced_sources

__all__ = [
    "ColumnQuality",
    "ColumnSpec",
    "ConceptMap",
    "CsvOptions",
    "ExtraVital",
    "HarmonizedSource",
    "MappingSpec",
    "Problem",
    "QualityReport",
    "Translator",
    "harmonize",
    "load_mapping",
    "mapping_from_dict",
    "mapping_json_schema",
    "normalize_label",
    "referenced_sources",
]
