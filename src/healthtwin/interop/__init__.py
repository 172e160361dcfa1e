"""Health data in and out: FHIR R4 and OMOP CDM mapping, code and unit harmonisation.

Everything that knows a health-data standard lives here, and nothing here holds domain
logic. Resources and rows are mapped at this edge to the frozen records of
:mod:`healthtwin.interop.records`; deeper layers see only records.

- FHIR R4 (HL7, version 4.0.1) through the R4B models of ``fhir.resources`` (the library's
  default R5 models reject many R4 examples), plus our own checks of required codes and
  units, which the library does not enforce.
- Units are UCUM codes (Schadow & McDonald, The Unified Code for Units of Measure,
  Regenstrief Institute); codes are LOINC, SNOMED CT, RxNorm and ICD-10
  (:mod:`healthtwin.interop.codes`).
"""
