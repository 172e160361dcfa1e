"""``python -m benchmarks [--quick] [NAME ...]``: run benchmarks and write their JSON."""

from __future__ import annotations

import argparse

from benchmarks.api_load import main as api_load
from benchmarks.api_security import main as api_security
from benchmarks.assimilation import main as assimilation
from benchmarks.calibration import main as calibration
from benchmarks.circulation import main as circulation
from benchmarks.closed_loop import main as closed_loop
from benchmarks.epidemic import main as epidemic
from benchmarks.federated_analytics import main as federated_analytics
from benchmarks.federated_gbdt import main as federated_gbdt
from benchmarks.federation import main as federation
from benchmarks.governance_access import main as governance_access
from benchmarks.governance_audit_chain import main as governance_audit_chain
from benchmarks.hospital import main as hospital
from benchmarks.imputation import main as imputation
from benchmarks.interop import main as interop
from benchmarks.pkpd import main as pkpd
from benchmarks.prognosis import main as prognosis
from benchmarks.store import main as store
from benchmarks.surveillance import main as surveillance
from benchmarks.synthetic import main as synthetic
from benchmarks.uva_padova import main as uva_padova
from benchmarks.world_scaling import main as world_scaling

ALL = {
    "uva_padova": uva_padova,
    "pkpd": pkpd,
    "circulation": circulation,
    "assimilation": assimilation,
    "calibration": calibration,
    "closed_loop": closed_loop,
    "prognosis": prognosis,
    "store": store,
    "interop": interop,
    "hospital": hospital,
    "epidemic": epidemic,
    "surveillance": surveillance,
    "governance_access": governance_access,
    "governance_audit_chain": governance_audit_chain,
    "api_security": api_security,
    "api_load": api_load,
    "federation": federation,
    "federated_analytics": federated_analytics,
    "federated_gbdt": federated_gbdt,
    "synthetic": synthetic,
    "imputation": imputation,
    "world_scaling": world_scaling,
}


def run() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("only", nargs="*", help=f"benchmarks to run (default: all of {list(ALL)})")
    args = parser.parse_args()
    unknown = set(args.only) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {list(ALL)}")
    for name in args.only or ALL:
        ALL[name](quick=args.quick)


if __name__ == "__main__":
    run()
