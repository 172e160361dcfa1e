"""The hospital scale: discrete-event patient flow, resources, staff and safety.

A hospital is a network of units (ED, wards, ICU, theatres, step-down) with finite beds
and nurse rosters. Patients arrive as non-homogeneous Poisson streams (thinning, Lewis &
Shedler 1979) or as scheduled electives, queue by triage category, move along pathways
with routing probabilities, block a bed while the next unit is full (boarding), and go
home only in the discharge window. Replications use common random numbers and report
t-intervals. Validated against Erlang C and B (Erlang 1917), the M/G/inf census
(Takács 1962), Little's law (Little 1961) and Ciw (Palmer et al. 2019).
"""

from __future__ import annotations

from healthtwin.hospital.census import Census, CensusEntry
from healthtwin.hospital.config import (
    HospitalConfig,
    LosSpec,
    UnitConfig,
    load_hospital_config,
    parse_hospital_config,
)
from healthtwin.hospital.course import ClinicalCourse, DistributionCourse, Patient
from healthtwin.hospital.results import MetricSummary, SimulationResult
from healthtwin.hospital.simulate import simulate
from healthtwin.hospital.textbook import mmc_config

__all__ = [
    "Census",
    "CensusEntry",
    "ClinicalCourse",
    "DistributionCourse",
    "HospitalConfig",
    "LosSpec",
    "MetricSummary",
    "Patient",
    "SimulationResult",
    "UnitConfig",
    "load_hospital_config",
    "mmc_config",
    "parse_hospital_config",
    "simulate",
]
