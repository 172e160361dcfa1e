"""The population scale: epidemics, population health and national planning.

Regions and nations are modelled as populations, not as individual patients.

- **Epidemics** (:func:`simulate_epidemic`): an age-structured metapopulation model with
  compartments S-V-E-I(asymptomatic/symptomatic)-H-ICU-R-D per replicate, region and age
  group, as a vectorized chain-binomial process (Bailey 1975; the metapopulation force of
  infection of Balcan et al. 2010, PNAS 106:21484) and as its ODE limit; contacts by setting
  (Prem, Cook & Jit 2017, PLoS Comput Biol 13:e1005697), mobility from data or from the
  gravity (Viboud et al. 2006, Science 312:447) or radiation (Simini et al. 2012, Nature
  484:96; Masucci et al. 2013, Phys Rev E 88:022812) models. ``beta`` follows from R0 through
  the next-generation matrix (Diekmann, Heesterbeek & Roberts 2010, J R Soc Interface 7:873).
- **Interventions** (:mod:`~healthtwin.population.interventions`): contact reduction, school
  closure, testing and isolation, vaccination campaigns, travel restriction; triggered by date
  or by thresholds on observed quantities, decided per replicate.
- **Rt** (:func:`estimate_rt`): Cori, Ferguson, Fraser & Cauchemez (2013), Am J Epidemiol
  178:1505: with serial interval weights ``w_s`` the infectivity is ``Lambda_t = sum_s w_s
  I_{t-s}``; over a window ``W`` a gamma prior ``Gamma(a, b)`` on R gives the posterior
  ``Gamma(a + sum_W I, 1 / (1/b + sum_W Lambda))``. Outputs match R EpiEstim.
- **Calibration** (:func:`calibrate_epidemic`): ABC-SMC (Toni et al. 2009; Beaumont et al.
  2009) on reported counts with ascertainment and reporting delays.
- **Forecasts** in the forecast hubs' format (23 quantiles and samples), scored by the weighted
  interval score (Bracher, Ray, Gneiting & Reich 2021, PLoS Comput Biol 17:e1008618).
- **Planning**: allocation of scarce capacity over simulated demand (exact greedy for the
  expected unmet demand; CVaR by Rockafellar & Uryasev 2000), stress tests with supply shocks
  and staff absence.
- **Chronic disease** (:func:`project_prevalence`): a type-2 diabetes microsimulation with
  published rates and a prevention programme (Knowler et al. 2002, N Engl J Med 346:393).
- **Scale-out** (:func:`run_ensemble`): scenario ensembles in process or on Dask, with the same
  numbers for the same seed.
"""

from __future__ import annotations

from healthtwin.population.allocation import Allocation, allocate, pro_rata
from healthtwin.population.calibration import (
    EpidemicCalibration,
    EpidemicSetting,
    Reporting,
    calibrate_epidemic,
)
from healthtwin.population.chronic import (
    ChronicProjection,
    PreventionProgramme,
    ProgrammeComparison,
    project_prevalence,
    project_t2d_programme,
)
from healthtwin.population.chronic_population import AgePyramid, Population, synthetic_population
from healthtwin.population.chronic_rates import ChronicRates, MortalityLaw, load_t2d_rates
from healthtwin.population.controls import DayControls, Observed
from healthtwin.population.demography import (
    country_contacts,
    country_geography,
    synthetic_geography,
    world_admin1_geography,
)
from healthtwin.population.ensemble import Ensemble, run_ensemble
from healthtwin.population.epidemic import QUANTITIES, EpidemicResult, simulate_epidemic
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.forecast_hub import HUB_QUANTILES, hub_table, read_hub_table
from healthtwin.population.geography import AGE_GROUPS_16, Geography
from healthtwin.population.interventions import (
    ContactReduction,
    InterventionPlan,
    SchoolClosure,
    TestingIsolation,
    TravelRestriction,
    VaccinationCampaign,
)
from healthtwin.population.mixing import SETTINGS, ContactMatrices, synthetic_contacts
from healthtwin.population.mobility import (
    MobilityMatrix,
    gravity_mobility,
    haversine_km,
    radiation_mobility,
)
from healthtwin.population.rt import (
    RT_COLUMNS,
    Incidence,
    RtEstimate,
    discretize_serial_interval,
    estimate_rt,
    overall_infectivity,
    read_incidence,
)
from healthtwin.population.scenario import PopulationScenario, load_scenario, parse_scenario
from healthtwin.population.scoring import weighted_interval_score
from healthtwin.population.stress import StressReport, capacity_timeline, stress_test
from healthtwin.population.triggers import DateTrigger, ThresholdTrigger

__all__ = [
    "AGE_GROUPS_16",
    "HUB_QUANTILES",
    "QUANTITIES",
    "RT_COLUMNS",
    "SETTINGS",
    "AgePyramid",
    "Allocation",
    "ChronicProjection",
    "ChronicRates",
    "ContactMatrices",
    "ContactReduction",
    "DateTrigger",
    "DayControls",
    "Ensemble",
    "EpidemicCalibration",
    "EpidemicParameters",
    "EpidemicResult",
    "EpidemicSetting",
    "Geography",
    "Incidence",
    "InterventionPlan",
    "MobilityMatrix",
    "MortalityLaw",
    "Observed",
    "Population",
    "PopulationScenario",
    "PreventionProgramme",
    "ProgrammeComparison",
    "Reporting",
    "RtEstimate",
    "SchoolClosure",
    "StressReport",
    "TestingIsolation",
    "ThresholdTrigger",
    "TravelRestriction",
    "VaccinationCampaign",
    "allocate",
    "calibrate_epidemic",
    "capacity_timeline",
    "country_contacts",
    "country_geography",
    "discretize_serial_interval",
    "estimate_rt",
    "gravity_mobility",
    "haversine_km",
    "hub_table",
    "load_scenario",
    "load_t2d_rates",
    "overall_infectivity",
    "parse_scenario",
    "pro_rata",
    "project_prevalence",
    "project_t2d_programme",
    "radiation_mobility",
    "read_hub_table",
    "read_incidence",
    "run_ensemble",
    "simulate_epidemic",
    "stress_test",
    "synthetic_contacts",
    "synthetic_geography",
    "synthetic_population",
    "weighted_interval_score",
    "world_admin1_geography",
]
