"""The web dashboard: server-rendered pages whose plots read the governed ``/api/v1`` API.

Pages are Jinja2 templates (:mod:`healthtwin.dashboard.pages`) that carry no patient data
themselves: a small dependency-free script (``static/app.js``) fetches everything from the
``/api/v1`` routes with the user's bearer token (given once in the page address as
``#token=...`` and kept in the tab's session storage), so every number shown went through
the governance layer (authentication, purpose, consent, audit). Plots are drawn with
Plotly.js served from the installed ``plotly`` package (no CDN).

Views: ``/dashboard/`` (twins, scenario runs, alarm board), ``/dashboard/patients/{id}``
(glucose readings with forecast bands that update live over server-sent events, accepted
plans, parameter estimates, recommendations to accept or override, NEWS2 when vitals are
on file), ``/dashboard/regions/{job}`` (incidence, Rt, ICU demand against capacity,
scenario comparison), ``/dashboard/hospitals/{id}`` (census by unit, queue lengths,
predicted occupancy with bands, alerts), ``/dashboard/global`` (alarm board by country and
disease), ``/dashboard/education`` (training cases played in the learner's language and
units, with score and debrief) and ``/dashboard/governance`` (audit trail, model cards).
The navigation is the list :data:`~healthtwin.dashboard.pages.NAVIGATION`.
"""

from __future__ import annotations

from healthtwin.dashboard.pages import (
    DASHBOARD_CSP,
    DashboardHeaders,
    dashboard_router,
    plotly_js_path,
)

__all__ = ["DASHBOARD_CSP", "DashboardHeaders", "dashboard_router", "plotly_js_path"]
