// healthtwin education view: play a virtual patient through the governed /api/v1/education
// routes. No framework, no build step; every text the server rendered is written with
// textContent only, and the parts in the learner's language carry its lang attribute. The
// interface's own words come translated from the page (a JSON data block, #education-text,
// keyed as in healthtwin.education.ui_text.SCRIPT_TEXT); values fill their {placeholders}.
"use strict";

(function () {
  const TOKEN_KEY = "healthtwin.token";
  const PURPOSE_KEY = "healthtwin.purpose";
  const API = "/api/v1/education";
  const body = document.body;
  const $ = function (id) { return document.getElementById(id); };
  const TEXT = JSON.parse(($("education-text") || {}).textContent || "{}");

  // The interface text of `key` with its {placeholders} filled from `values`.
  function text(key, values) {
    const template = Object.prototype.hasOwnProperty.call(TEXT, key) ? TEXT[key] : key;
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && values[name] != null ? String(values[name]) : whole;
    });
  }

  // `x` with `digits` decimals in the number format of a locale tag ("de", "en_US").
  function number(x, digits, locale) {
    const tag = (locale || body.dataset.pageLanguage || "en").replace("_", "-");
    return new Intl.NumberFormat(tag, { minimumFractionDigits: digits, maximumFractionDigits: digits })
      .format(Number(x));
  }

  function takeTokenFromAddress() {
    const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  function headers(json) {
    const out = { "Accept": "application/json" };
    if (json) { out["Content-Type"] = "application/json"; }
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) { out["Authorization"] = "Bearer " + token; }
    out[body.dataset.purposeHeader || "X-Purpose-Of-Use"] = sessionStorage.getItem(PURPOSE_KEY) || "TREAT";
    return out;
  }

  function say(message) { $("status").textContent = message; }

  async function api(path, payload) {
    const opts = { method: payload === undefined ? "GET" : "POST", headers: headers(payload !== undefined) };
    if (payload !== undefined) { opts.body = JSON.stringify(payload); }
    let response;
    try {
      response = await fetch(API + path, opts);
    } catch (err) {
      throw new Error(text("unreachable", { detail: err.message }));
    }
    const raw = await response.text();
    const data = raw ? JSON.parse(raw) : null;
    if (!response.ok) {
      const detail = data && (data.detail || data.title) ? (data.detail || data.title) : response.statusText;
      throw new Error(text("request_failed", {
        status: response.status, detail: typeof detail === "string" ? detail : JSON.stringify(detail),
      }));
    }
    return data;
  }

  function element(tag, text, attrs) {
    const el = document.createElement(tag);
    if (text != null) { el.textContent = text; }
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    return el;
  }

  function row(tbody, cells) {
    const tr = document.createElement("tr");
    cells.forEach(function (value, k) {
      const td = element(k === 0 ? "th" : "td", value);
      if (k === 0) { td.scope = "row"; }
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
    return tr;
  }

  function named(label, unit) { return unit ? label + " (" + unit + ")" : label; }

  function minutes(t) {
    const whole = Math.round(t);
    return Math.floor(whole / 60) + ":" + String(whole % 60).padStart(2, "0");
  }

  // -- the start form ---------------------------------------------------------------------
  function chooser() {
    const locale = $("locale-select"), cases = $("case-select");
    function listCases() {
      return api("/cases?locale=" + encodeURIComponent(locale.value)).then(function (data) {
        const chosen = cases.value;
        cases.replaceChildren();
        data.cases.forEach(function (c) {
          const option = element("option", c.title + " (" + c.id + ")", { value: c.id, lang: locale.value.slice(0, 2) });
          cases.appendChild(option);
        });
        if (chosen) { cases.value = chosen; }
        body.dataset.casesLoaded = String(data.cases.length);
      }).catch(function (err) { say(err.message); });
    }
    locale.addEventListener("change", function () {
      // The page itself is rendered in the language chosen: load it again in that one.
      window.location.assign(window.location.pathname + "?locale=" + encodeURIComponent(locale.value));
    });
    $("start-form").addEventListener("submit", function (event) {
      event.preventDefault();
      say("");
      api("/sessions", {
        case_id: cases.value,
        locale: locale.value,
        seed: Number($("seed-input").value || 0),
        keep_foreign: $("foreign-input").checked,
      }).then(function (state) {
        window.location.assign("/dashboard/education/" + encodeURIComponent(state.session_id) +
          "?locale=" + encodeURIComponent(state.locale || locale.value));
      }).catch(function (err) { say(err.message); });
    });
    listCases();
  }

  // -- playing ----------------------------------------------------------------------------
  function player(sessionId) {
    const path = "/sessions/" + encodeURIComponent(sessionId);
    let busy = false;

    function act(promise) {
      if (busy) { return; }
      busy = true;
      say("");
      promise().then(show).catch(function (err) { say(err.message); }).finally(function () { busy = false; });
    }

    function drawChart(state) {
      const t = state.series.t_min;
      const traces = state.series.measures.map(function (m) {
        const glucose = m.measure.indexOf("glucose") === 0;
        return {
          x: t, y: m.values_local, mode: "lines", name: named(m.label, m.unit_local),
          yaxis: glucose ? "y2" : "y", meta: m.measure,
        };
      });
      const byMeasure = {};
      state.results.forEach(function (r) {
        (byMeasure[r.measure] = byMeasure[r.measure] || []).push(r);
      });
      Object.keys(byMeasure).forEach(function (measure) {
        const points = byMeasure[measure];
        traces.push({
          x: points.map(function (r) { return r.t_min; }),
          y: points.map(function (r) { return r.value_local; }),
          mode: "lines+markers", marker: { size: 9 }, yaxis: "y2", meta: measure + ":result",
          name: named(points[0].label, points[0].unit_local),
          text: points.map(function (r) { return r.text; }),
        });
      });
      const glucose = state.results.concat(state.series.measures).find(function (r) { return r.measure.indexOf("glucose") === 0; });
      Plotly.react("vitals-plot", traces, {
        margin: { l: 60, r: 60, t: 10, b: 50 },
        font: { family: "system-ui, sans-serif", size: 13, color: "#1a1a1a" },
        legend: { orientation: "h", y: -0.25 },
        xaxis: { title: { text: text("minutes_axis") }, range: [0, state.duration_min] },
        yaxis: { rangemode: "tozero" },
        yaxis2: { overlaying: "y", side: "right", rangemode: "tozero",
                  title: { text: glucose ? named(glucose.label, glucose.unit_local) : "" } },
      }, { responsive: true, displaylogo: false });
      body.dataset.chartVersion = String(Number(body.dataset.chartVersion || 0) + 1);
    }

    function actionForms(state) {
      const holder = $("actions");
      holder.replaceChildren();
      holder.lang = state.language;
      state.actions.forEach(function (a) {
        const form = element("form", null, { class: "action", "data-action": a.id });
        let input = null;
        if (a.dose) {
          const wrap = document.createElement("div");
          const label = element("label", null, { for: "dose-" + a.id });
          label.appendChild(document.createTextNode(text("dose_label") + " "));
          label.appendChild(element("span", a.label + " ", { class: "visually-hidden" }));
          label.appendChild(document.createTextNode("(" + a.dose.unit_local + ", " + a.dose.min_text + " – " + a.dose.max_text + ")"));
          input = element("input", null, {
            id: "dose-" + a.id, name: "dose", type: "text", inputmode: "decimal", size: "6",
          });
          input.value = a.dose.default_input;
          wrap.appendChild(label);
          wrap.appendChild(input);
          form.appendChild(wrap);
        }
        const caption = a.drug ? a.label + " (" + a.drug + ")" : a.label;
        form.appendChild(element("button", caption, { type: "submit" }));
        form.addEventListener("submit", function (event) {
          event.preventDefault();
          const payload = { action_id: a.id };
          if (input && input.value.trim()) { payload.dose = input.value.trim(); }
          act(function () { return api(path + "/actions", payload); });
        });
        holder.appendChild(form);
      });
    }

    function infoButtons(state) {
      const holder = $("information");
      holder.replaceChildren();
      holder.lang = state.language;
      state.information.forEach(function (i) {
        const wait = i.turnaround_min > 0
          ? " (" + text("turnaround", { minutes: number(i.turnaround_min, 0, state.locale) }) + ")" : "";
        const button = element("button", i.label + wait, { type: "button", class: "secondary", "data-info": i.id });
        button.addEventListener("click", function () {
          act(function () { return api(path + "/requests", { info_id: i.id }); });
        });
        holder.appendChild(button);
      });
    }

    function show(state) {
      if (state.state) { return showReport(state); }
      $("case-title").textContent = state.title;
      $("case-title").lang = state.language;
      $("clock").textContent = text("clock", { now: minutes(state.now_min), total: minutes(state.duration_min) }) +
        (state.dead ? " — " + text("patient_died") : "") + (state.finished ? " — " + text("case_ended") : "");
      $("clock").lang = state.language;
      const tbody = document.querySelector("#vitals-table tbody");
      tbody.replaceChildren();
      tbody.lang = state.language;
      state.vitals.forEach(function (v) { row(tbody, [v.label, v.text]); });
      const log = $("log");
      log.replaceChildren();
      log.lang = state.language;
      state.messages.forEach(function (m) {
        const li = element("li", "[" + minutes(m.t_min) + "] " + m.text, { class: "message-" + m.kind });
        if (m.kind === "alert") { li.classList.add("alert-high"); }
        log.appendChild(li);
      });
      if (!state.ended) { actionForms(state); infoButtons(state); }
      const over = state.ended || state.finished;
      ["advance-1", "advance-5"].forEach(function (id) { $(id).disabled = over; });
      $("end-button").disabled = state.ended;
      drawChart(state);
      body.dataset.nowMin = String(state.now_min);
      body.dataset.language = state.language;
      return state;
    }

    function band(b, digits, locale) {
      return [b.q05, b.q50, b.q95].map(function (x) { return number(x, digits, locale); }).join(" – ");
    }

    // A debrief variant by its kind: played, shifted (earlier or later), removed, expert.
    function variantName(v, locale) {
      const values = { number: (v.action_index || 0) + 1, minutes: number(Math.abs(v.shift_min || 0), 0, locale) };
      const key = { played: "variant_played", removed: "variant_without", expert: "variant_expert" }[v.kind] ||
        (v.shift_min < 0 ? "variant_earlier" : "variant_later");
      return text(key, values);
    }

    function showReport(report) {
      show(report.state);
      $("actions").replaceChildren();
      $("information").replaceChildren();
      const s = report.score, tag = report.state.locale;
      $("score-section").hidden = false;
      $("score-section").lang = report.state.language;
      $("score-total").textContent = text(s.passed ? "passed_total" : "failed_total", {
        total: number(s.total, 0, tag), max_total: number(s.max_total, 0, tag), pass_mark: number(s.pass_mark, 0, tag),
      });
      const tbody = document.querySelector("#score-table tbody");
      tbody.replaceChildren();
      s.items.forEach(function (i) {
        row(tbody, [i.subject, i.text, number(i.points, 0, tag), number(i.max_points, 0, tag)]);
      });
      const list = $("debrief-list"), table = document.querySelector("#debrief-table tbody");
      list.replaceChildren();
      table.replaceChildren();
      if (report.debrief) {
        report.debrief.rendered.forEach(function (line) { list.appendChild(element("li", line)); });
        report.debrief.variants.forEach(function (v) {
          const outcomes = Object.keys(v.outcomes_local).map(function (m) {
            const o = v.outcomes_local[m];
            return o.label + ": " + band(o, 1, tag) + (o.unit_local ? " " + o.unit_local : "");
          }).join("; ");
          row(table, [variantName(v, tag), band(v.score, 0, tag), outcomes]).dataset.variant = v.id;
        });
      }
      body.dataset.scored = s.passed ? "passed" : "failed";
      $("score-h").focus();
      return report;
    }

    $("advance-1").addEventListener("click", function () { act(function () { return api(path + "/advance", { minutes: 1 }); }); });
    $("advance-5").addEventListener("click", function () { act(function () { return api(path + "/advance", { minutes: 5 }); }); });
    $("end-button").addEventListener("click", function () {
      say(text($("debrief-input").checked ? "finishing_debrief" : "finishing"));
      act(function () {
        const draws = Math.min(50, Math.max(1, Math.round(Number($("draws-input").value) || 5)));
        return api(path + "/end", { debrief: $("debrief-input").checked, n_draws: draws }).then(function (r) {
          say("");
          if (r.debrief_job) { followDebrief(r); }
          return r;
        });
      });
    });

    // A debrief too large to answer at once runs as a job: follow it, then show it.
    function followDebrief(report) {
      const where = report.debrief_job.location;
      const url = where.indexOf(API) === 0 ? where.slice(API.length) : where;
      const tag = report.state.locale;
      body.dataset.debriefJob = "running";
      function poll() {
        api(url).then(function (job) {
          if (job.status === "succeeded") {
            say("");
            report.debrief = job.debrief;
            body.dataset.debriefJob = "succeeded";
            showReport(report);
          } else if (job.status === "failed" || job.status === "cancelled" || job.status === "interrupted") {
            body.dataset.debriefJob = job.status;
            say(text("debrief_stopped", { status: job.status, detail: job.error || "" }));
          } else {
            const percent = new Intl.NumberFormat((tag || "en").replace("_", "-"), { style: "percent" });
            say(text("debrief_job_progress", { percent: percent.format(Number(job.progress)) }));
            setTimeout(poll, 1000);
          }
        }).catch(function (err) { say(err.message); });
      }
      poll();
    }
    $("score-h").tabIndex = -1;
    api(path).then(function (state) {
      show(state);
      if (state.ended) {
        // A finished session is graded again from the store; the debrief ran when it ended.
        return api(path + "/report").then(function (r) {
          r.state = state;
          return showReport(r);
        });
      }
      return state;
    }).catch(function (err) { say(err.message); });
  }

  function start() {
    takeTokenFromAddress();
    if (body.dataset.view !== "education") { return; }
    if (body.dataset.sessionId) { player(body.dataset.sessionId); } else { chooser(); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
