"""The HTML report of ``healthtwin patient evaluate`` (written by :mod:`healthtwin.scenarios`)."""

from __future__ import annotations

from healthtwin.scenarios.controller_report import write_report

__all__ = ["write_report"]
