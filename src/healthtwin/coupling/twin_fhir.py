"""A synced patient twin's forecast written back as FHIR, with its provenance.

The forecast of each observed output becomes preliminary Observations (median as the
value, the 5 % and 95 % quantiles as components; see
:func:`healthtwin.interop.fhir_export.forecast_observations`) under the LOINC code of the
quantity, and one Provenance names every reading the twin assimilated and the model and
version that made the forecast. Resources are returned as FHIR JSON dictionaries, ready
for a store or a Bundle.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from healthtwin import __version__
from healthtwin.coupling.patient_sync import SyncedTwin
from healthtwin.coupling.record_twins import RecordReadings
from healthtwin.errors import InvalidInputError
from healthtwin.interop.codes import LOINC
from healthtwin.interop.fhir_export import forecast_observations, provenance
from healthtwin.interop.fhir_json import dump_resource
from healthtwin.interop.records import Coding

__all__ = ["FORECAST_CODES", "forecast_resources"]

#: Model output -> (LOINC code, UCUM unit) its forecast is written under.
FORECAST_CODES: dict[str, tuple[str, str]] = {
    "glucose_mg_dl": ("99504-3", "mg/dL"),
    "plasma_glucose_mg_dl": ("2345-7", "mg/dL"),
    "heart_rate_bpm": ("8867-4", "/min"),
    "sbp_mmhg": ("8480-6", "mm[Hg]"),
    "dbp_mmhg": ("8462-4", "mm[Hg]"),
    "map_mmhg": ("8478-0", "mm[Hg]"),
}
_LEVELS = (0.05, 0.5, 0.95)


def forecast_resources(
    synced: SyncedTwin,
    readings: RecordReadings,
    patient_id: str,
    *,
    horizon_min: float = 120.0,
    step_min: float = 15.0,
    model: str = "healthtwin-enkf-twin",
    issued: datetime | None = None,
) -> list[dict[str, Any]]:
    """Forecast Observations for every observed output, then their Provenance.

    Raises
    ------
    InvalidInputError
        If ``step_min`` does not divide into ``horizon_min`` at least once.
    """
    if not 0 < step_min <= horizon_min:
        raise InvalidInputError(
            f"need 0 < step_min <= horizon_min, got {step_min} and {horizon_min}"
        )
    twin = synced.twin
    forecast = twin.forecast(horizon_min, dt_out=step_min)
    ahead = forecast.t > twin.t + 1e-9
    times = [readings.origin + timedelta(minutes=float(t)) for t in np.asarray(forecast.t)[ahead]]
    made = issued or datetime.now(UTC)
    version = f"healthtwin {__version__}"
    resources: list[dict[str, Any]] = []
    for output in readings.observed:
        code, unit = FORECAST_CODES[output]
        levels = forecast.quantiles(output, _LEVELS)[:, ahead]
        observations = forecast_observations(
            patient_id,
            Coding(system=LOINC, code=code),
            unit,
            times,
            {level: levels[i].tolist() for i, level in enumerate(_LEVELS)},
            model,
            version,
            readings.basis,
            issued=made,
        )
        resources.extend(dump_resource(o) for o in observations)
    targets = [f"Observation/{r['id']}" for r in resources]
    resources.append(dump_resource(provenance(targets, readings.basis, model, version, made)))
    return resources
