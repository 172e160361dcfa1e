"""OMOP CDM 5.4 in and out: patients' records as OHDSI Common Data Model rows, and back.

The OMOP Common Data Model (OHDSI, version 5.4, https://ohdsi.github.io/CommonDataModel/)
stores observational health data in fixed tables with integer concept ids from the OHDSI
Standardized Vocabularies. The table definitions come from the ``omop-cdm`` package (The
Hyve, Apache-2.0; the ``omop`` extra); the concepts from a small verified subset shipped in
``healthtwin/interop/data`` (no Athena download).

Records map to tables as follows:

===========================  =================================================================
record                       OMOP rows
===========================  =================================================================
PatientRecord                ``person`` (+ ``location`` for the country, ``care_site`` for
                             the managing organization), ``observation_period`` spanning all
                             the patient's dated records
EncounterRecord              ``visit_occurrence`` (class IMP/AMB/EMER -> 9201/9202/9203)
ConditionRecord              ``condition_occurrence`` (clinical status in
                             ``condition_status_source_value``)
MedicationRecord             ``drug_exposure`` (dose -> ``quantity``, infusion rate -> ``sig``
                             ``"rate 2.5 U/h"``, kind -> type concept 32818/32838)
ObservationRecord            ``measurement`` (a panel such as blood pressure 85354-9 becomes
                             one row per component)
===========================  =================================================================

A code without a concept in the vocabulary gets concept_id 0 and keeps its code in the
``*_source_value`` column; the export report counts it. The lineage table
``healthtwin_source_record`` keeps record ids and code systems, so that
records -> OMOP -> records is the identity for every field OMOP holds. Not held (restored
at defaults by :func:`import_omop`): patient identifiers and names, record statuses other
than a condition's clinical status, observation categories other than vital signs',
encounter locations, code displays (taken from concept names) and ``PatientData.extra``.
"""

from healthtwin.interop.omop.export import export_omop, export_omop_csv
from healthtwin.interop.omop.import_ import import_omop, import_omop_csv
from healthtwin.interop.omop.report import OmopExportReport, UnmappedCode
from healthtwin.interop.omop.tables import CDM_TABLES, SOURCE_RECORD, create_omop_tables
from healthtwin.interop.omop.vocabulary import Concept, OmopVocabulary, load_vocabulary

__all__ = [
    "CDM_TABLES",
    "SOURCE_RECORD",
    "Concept",
    "OmopExportReport",
    "OmopVocabulary",
    "UnmappedCode",
    "create_omop_tables",
    "export_omop",
    "export_omop_csv",
    "import_omop",
    "import_omop_csv",
    "load_vocabulary",
]
