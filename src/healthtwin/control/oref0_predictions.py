"""The prediction half of oref0 ``determine-basal``: 4-hour BG curves and their minima.

From an IOB array (one tick every 5 minutes, each with its zero-temp twin) oref0 predicts
BG under insulin only (IOB), carbs on board (COB), unannounced meals (UAM) and a zero
temp (ZT); the minima of those curves after the insulin peak, and their "guard" minima
over the whole horizon, decide how low a temp must go or how high it may go, and how
many carbs are needed to avoid a low.

:class:`_PredictionSteps` holds these steps as methods on the state of one
``determine_basal`` call; :class:`healthtwin.control.oref0._Run` sets the inputs
declared below and calls :meth:`~_PredictionSteps.predict` then
:meth:`~_PredictionSteps.summarize`. The code is a line-by-line port of the prediction
part of openaps/oref0 ``lib/determine-basal/determine-basal.js`` (commit 69d76737), MIT
licence; see :mod:`healthtwin.control.oref0_iob` for its notice.
"""

from __future__ import annotations

import math
from typing import Any

from healthtwin.control.oref0_iob import (
    IobData,
    _js_div,
    _js_max,
    _js_min,
    _js_round,
    _js_str,
    _js_to_fixed,
    _math_round,
    _num,
    _truthy,
)
from healthtwin.control.oref0_types import MealData, Profile

__all__: list[str] = []


class _PredictionSteps:
    """State and steps of one ``determine_basal`` call that the predictions share.

    Attributes mirror the JavaScript locals. The inputs (profile to max_delta) are set by
    the subclass :class:`healthtwin.control.oref0._Run` before :meth:`predict` runs.
    """

    # inputs, set by _Run
    profile: Profile
    meal: MealData
    now_ms: float
    bg: float
    min_delta: float
    max_delta: float
    iob: IobData
    iob_array: list[IobData] | None
    rt: dict[str, Any]
    sensitivity_ratio: float | None
    target_bg: float
    threshold: float
    sens: float
    bgi: float
    deviation: float
    naive_eventual_bg: float
    eventual_bg: float
    # outputs
    enable_uam: bool
    ci: float
    ci_peak: float
    cid: float
    csf: float
    curves: dict[str, list[float]]
    min_preds: dict[str, float]
    guards: dict[str, float]
    iob_pred: float
    cob_pred: float
    uam_pred: float
    max_cob_pred: float
    last_cob_pred: float
    last_uam_pred: float
    min_pred: float
    min_guard: float
    carbs_req: float

    def bg_value(self, value: float) -> float | str:
        """oref0's ``convert_bg``."""
        if self.profile.out_units == "mmol/L":
            return _js_to_fixed(_js_round(value / 18, 1), 1)
        return _math_round(value)

    def bg_text(self, value: float) -> str:
        return _js_str(self.bg_value(value))

    def predict(self) -> None:
        """The 4-hour IOB, ZT, COB and UAM prediction curves and their minima."""
        p, meal, sens, bg = self.profile, self.meal, self.sens, self.bg
        self.enable_uam = _truthy(p.enable_uam)
        ci = uci = _js_round(self.min_delta - self.bgi, 1)
        csf = _js_div(sens, _num(p.carb_ratio))
        max_ci = _js_round(30 * csf * 5 / 60, 1)
        if ci > max_ci:  # carbs absorb at most 30 g/h
            ci = max_ci
        ratio = self.sensitivity_ratio
        ca_time_min = 3 / _num(ratio) if _truthy(ratio) else 3.0
        ca_time = ca_time_min
        carbs, cob = _num(meal.carbs), _num(meal.meal_cob)
        if _truthy(meal.carbs):
            # 20 g/h assumed absorption: more than 60 g takes longer than 3 h.
            ca_time_min = _js_max(ca_time_min, cob / 20)
            last_carb_age = _js_round((self.now_ms - _num(meal.last_carb_time)) / 60000)
            ca_time = _js_round(ca_time_min + 1.5 * last_carb_age / 60, 1)
        total_ci = _js_max(0, ci / 5 * 60 * ca_time / 2)
        total_ca = _js_div(total_ci, csf)
        cap = _js_min(90, _num(p.remaining_carbs_cap)) if _truthy(p.remaining_carbs_cap) else 90
        frac = (
            _js_min(1, _num(p.remaining_carbs_fraction))
            if _truthy(p.remaining_carbs_fraction)
            else 1
        )
        remaining = _js_min(cap, _js_max(0, cob - total_ca - carbs * (1 - frac)))
        # Not-yet-absorbed carbs absorb in a /\ curve peaking at ca_time / 2.
        ci_peak = _js_div(remaining * csf * 5 / 60, ca_time / 2)
        slope_max = _js_round(_num(meal.slope_from_max_deviation), 2)
        slope_min = _js_round(_num(meal.slope_from_min_deviation), 2)
        slope = _js_min(slope_max, -slope_min / 3)
        # Duration of carb impact in 5-min steps, limited to ca_time (ci == 0: none).
        cid = 0.0 if ci == 0 else _js_min(ca_time * 60 / 5 / 2, _js_max(0, _js_div(cob * csf, ci)))
        self.ci, self.ci_peak, self.cid, self.csf = ci, ci_peak, cid, csf
        self.curves = {k: [bg] for k in ("IOB", "COB", "UAM", "ZT")}
        iob_c, cob_c, uam_c, zt_c = (self.curves[k] for k in ("IOB", "COB", "UAM", "ZT"))
        m = {"iob": 999.0, "cob": 999.0, "uam": 999.0}
        guard = {"cob": 999.0, "uam": 999.0, "iob": 999.0, "zt": 999.0}
        self.iob_pred = self.eventual_bg
        self.cob_pred = self.uam_pred = math.nan
        max_iob_pred, self.max_cob_pred = bg, bg
        carbs_seen = _truthy(cid) or ci_peak > 0
        for tick in self.iob_array or []:
            pred_bgi = _js_round(-tick.activity * sens * 5, 2)
            # oref0 reads iobWithZeroTemp here; without it the JS throws and its catch
            # ends the predictions, keeping what was computed so far.
            if tick.iob_with_zero_temp is None:
                break
            pred_zt_bgi = _js_round(-tick.iob_with_zero_temp.activity * sens * 5, 2)
            # Deviation decays linearly to zero over 60 minutes.
            pred_dev = ci * (1 - _js_min(1, len(iob_c) / (60 / 5)))
            self.iob_pred = iob_c[-1] + pred_bgi + pred_dev
            zt_pred = zt_c[-1] + pred_zt_bgi
            pred_ci = _js_max(0, _js_max(0, ci) * (1 - len(cob_c) / _js_max(cid * 2, 1)))
            intervals = _js_min(len(cob_c), ca_time * 12 - len(cob_c))
            remaining_ci = _js_max(0, _js_div(intervals, ca_time / 2 * 12) * ci_peak)
            self.cob_pred = cob_c[-1] + pred_bgi + _js_min(0, pred_dev) + pred_ci + remaining_ci
            uci_slope = _js_max(0, uci + len(uam_c) * slope)
            uci_max = _js_max(0, uci * (1 - len(uam_c) / _js_max(3 * 60 / 5, 1)))
            self.uam_pred = (
                uam_c[-1] + pred_bgi + _js_min(0, pred_dev) + _js_min(uci_slope, uci_max)
            )
            for curve, value in (
                (iob_c, self.iob_pred),
                (cob_c, self.cob_pred),
                (uam_c, self.uam_pred),
                (zt_c, zt_pred),
            ):
                if len(curve) < 48:
                    curve.append(value)
            for name, value in (
                ("cob", self.cob_pred),
                ("uam", self.uam_pred),
                ("iob", self.iob_pred),
                ("zt", zt_pred),
            ):
                if value < guard[name]:
                    guard[name] = _js_round(value)
            # Minima count only after 90 min (insulin peak plus 30 min of delivery).
            if len(iob_c) > 18 and self.iob_pred < m["iob"]:
                m["iob"] = _js_round(self.iob_pred)
            max_iob_pred = self.iob_pred if self.iob_pred > max_iob_pred else max_iob_pred
            if carbs_seen and len(cob_c) > 18 and self.cob_pred < m["cob"]:
                m["cob"] = _js_round(self.cob_pred)
            # oref0 compares with maxIOBPredBG here, not maxCOBPredBG.
            if carbs_seen and self.cob_pred > max_iob_pred:
                self.max_cob_pred = self.cob_pred
            if self.enable_uam and len(uam_c) > 12 and self.uam_pred < m["uam"]:
                m["uam"] = _js_round(self.uam_pred)
        self.min_preds, self.guards = m, guard

    def finish_curves(self) -> None:
        """Clip to 39-401, trim flat tails, and let COB/UAM raise eventualBG."""
        rt, c = self.rt, self.curves

        def clip(name: str, keep_from: int) -> list[float]:
            values = [_js_round(_js_min(401, _js_max(39, v))) for v in c[name]]
            while len(values) - 1 > keep_from and values[-2] == values[-1]:
                values.pop()
            return values

        c["IOB"] = clip("IOB", 12)
        zt = [_js_round(_js_min(401, _js_max(39, v))) for v in c["ZT"]]
        # Stop showing ZT once it is rising and above target.
        while len(zt) - 1 > 6 and not (zt[-2] >= zt[-1] or zt[-1] <= self.target_bg):
            zt.pop()
        c["ZT"] = zt
        rt["predBGs"] = {"IOB": c["IOB"], "ZT": zt}
        self.last_cob_pred = self.last_uam_pred = math.nan
        absorbing = self.ci > 0 or self.ci_peak > 0
        if _num(self.meal.meal_cob) > 0 and absorbing:
            c["COB"] = clip("COB", 12)
            rt["predBGs"]["COB"] = c["COB"]
            self.last_cob_pred = _js_round(c["COB"][-1])
            self.eventual_bg = _js_max(self.eventual_bg, _js_round(c["COB"][-1]))
        if absorbing:
            if self.enable_uam:
                c["UAM"] = clip("UAM", 12)
                rt["predBGs"]["UAM"] = c["UAM"]
                self.last_uam_pred = _js_round(c["UAM"][-1])
                if _truthy(c["UAM"][-1]):
                    self.eventual_bg = _js_max(self.eventual_bg, _js_round(c["UAM"][-1]))
            rt["eventualBG"] = self.eventual_bg

    def summarize(self) -> None:
        """minPredBG, minGuardBG, the reason's header, and carbs required."""
        self.finish_curves()
        m, g, meal, uam = self.min_preds, self.guards, self.meal, self.enable_uam
        min_iob, min_cob, min_uam = (_js_max(39, m[k]) for k in ("iob", "cob", "uam"))
        min_pred = _js_round(min_iob)
        frac_left = _js_div(_num(meal.meal_cob), _num(meal.carbs))
        if min_uam < 999 and min_cob < 999:
            avg_pred = _js_round((1 - frac_left) * self.uam_pred + frac_left * self.cob_pred)
        elif min_cob < 999:
            avg_pred = _js_round((self.iob_pred + self.cob_pred) / 2)
        elif min_uam < 999:
            avg_pred = _js_round((self.iob_pred + self.uam_pred) / 2)
        else:
            avg_pred = _js_round(self.iob_pred)
        avg_pred = g["zt"] if g["zt"] > avg_pred else avg_pred
        if _truthy(self.cid) or self.ci_peak > 0:
            guard = frac_left * g["cob"] + (1 - frac_left) * g["uam"] if uam else g["cob"]
        else:
            guard = g["uam"] if uam else g["iob"]
        self.min_guard = min_guard = _js_round(guard)
        zt_uam = min_uam
        threshold, target = self.threshold, self.target_bg
        # Low ZT guard: average down a high UAM minimum in case absorption stops.
        if g["zt"] < threshold:
            zt_uam = (min_uam + g["zt"]) / 2
        elif g["zt"] < target:
            blend = _js_div(g["zt"] - threshold, target - threshold)
            zt_uam = (min_uam + (min_uam * blend + g["zt"] * (1 - blend))) / 2
        elif g["zt"] > min_uam:
            zt_uam = (min_uam + g["zt"]) / 2
        zt_uam = _js_round(zt_uam)
        if _truthy(meal.carbs):
            if not uam and min_cob < 999:
                min_pred = _js_round(_js_max(min_iob, min_cob))
            elif min_cob < 999:
                blended = frac_left * min_cob + (1 - frac_left) * zt_uam
                min_pred = _js_round(_js_max(min_iob, min_cob, blended))
            else:
                min_pred = zt_uam if uam else min_guard
        elif uam:
            min_pred = _js_round(_js_max(min_iob, zt_uam))
        min_pred = _js_min(min_pred, avg_pred)
        # If the COB curve falls off a cliff, do not trust UAM too much.
        if self.max_cob_pred > self.bg:
            min_pred = _js_min(min_pred, self.max_cob_pred)
        self.min_pred = min_pred
        self.header()

    def header(self) -> None:
        rt, p, meal, bt = self.rt, self.profile, self.meal, self.bg_text
        rt.update(
            COB=meal.meal_cob,
            IOB=self.iob.iob,
            BGI=self.bg_value(self.bgi),
            deviation=self.bg_value(self.deviation),
            ISF=self.bg_value(self.sens),
            CR=_js_round(_num(p.carb_ratio), 2),
            target_bg=self.bg_value(self.target_bg),
        )
        rt["reason"] = (
            f"COB: {_js_str(meal.meal_cob)}, Dev: {_js_str(rt['deviation'])}, BGI: "
            f"{_js_str(rt['BGI'])}, ISF: {_js_str(rt['ISF'])}, CR: {_js_str(rt['CR'])}, "
            f"minPredBG {bt(self.min_pred)}, minGuardBG {bt(self.min_guard)}, IOBpredBG "
            f"{bt(_js_round(self.curves['IOB'][-1]))}"
        )
        if self.last_cob_pred > 0:
            rt["reason"] += f", COBpredBG {bt(self.last_cob_pred)}"
        if self.last_uam_pred > 0:
            rt["reason"] += f", UAMpredBG {bt(self.last_uam_pred)}"
        rt["reason"] += "; "
        carbs_req_bg = self.naive_eventual_bg
        if carbs_req_bg < 40:
            carbs_req_bg = _js_min(self.min_guard, carbs_req_bg)
        undershoot = self.threshold - carbs_req_bg
        cob = _num(meal.meal_cob)
        curve = self.curves["COB" if cob > 0 and (self.ci > 0 or self.ci_peak > 0) else "IOB"]
        above_threshold = next((5 * i for i, v in enumerate(curve) if v < self.threshold), 240)
        threshold_pct = (
            0.2 if p.max_delta_bg_threshold is None else _js_min(p.max_delta_bg_threshold, 0.3)
        )
        # oref0 notes sudden rises (calibrations) even with SMB off.
        if self.max_delta > threshold_pct * self.bg:
            rt["reason"] += (
                f"maxDelta {bt(self.max_delta)} > {_js_str(100 * threshold_pct)}% of BG "
                f"{bt(self.bg)}: SMB disabled; "
            )
        # Zero temps until BG crosses the threshold count against the carbs required.
        zero_temp_effect = _num(p.current_basal) * self.sens * above_threshold / 60
        cob_for_carbs_req = _js_max(0, cob - 0.25 * _num(meal.carbs))
        carbs_req = _js_div(undershoot - zero_temp_effect, self.csf) - cob_for_carbs_req
        self.carbs_req = carbs_req = _js_round(carbs_req)
        if meal.reason == "Could not parse clock data":
            pass
        elif carbs_req >= _num(p.carbs_req_threshold) and above_threshold <= 45:
            rt["carbsReq"] = carbs_req
            rt["reason"] += (
                f"{_js_str(carbs_req)} add'l carbs req w/in {_js_str(above_threshold)}m; "
            )
