"""``python -m benchmarks [--quick]``: run every benchmark and write its JSON."""

from __future__ import annotations

import argparse

from benchmarks.uva_padova import main as uva_padova


def run() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    uva_padova(quick=args.quick)


if __name__ == "__main__":
    run()
