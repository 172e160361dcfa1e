// healthtwin dashboard: fetches every number from the governed /api/v1 API and draws it
// with Plotly. No framework, no build step. Data is written with textContent only.
"use strict";

(function () {
  const TOKEN_KEY = "healthtwin.token";
  const PURPOSE_KEY = "healthtwin.purpose";
  const API = "/api/v1";
  const body = document.body;

  // -- access token: "#token=..." once in the address, then kept for the tab -------------
  function takeTokenFromAddress() {
    const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
    const purpose = /(?:^#|&)purpose=([A-Z]+)/.exec(window.location.hash);
    if (purpose) { sessionStorage.setItem(PURPOSE_KEY, purpose[1]); }
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  function headers(extra) {
    const out = Object.assign({ "Accept": "application/json" }, extra || {});
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) { out["Authorization"] = "Bearer " + token; }
    out[body.dataset.purposeHeader || "X-Purpose-Of-Use"] = sessionStorage.getItem(PURPOSE_KEY) || "TREAT";
    return out;
  }

  function say(message) {
    document.getElementById("status").textContent = message;
  }

  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = headers(opts.body ? { "Content-Type": "application/json" } : {});
    const response = await fetch(API + path, opts);
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const detail = data && (data.detail || data.title) ? (data.detail || data.title) : response.statusText;
      throw new Error(response.status + ": " + (typeof detail === "string" ? detail : JSON.stringify(detail)));
    }
    return data;
  }

  function post(path, payload) {
    return api(path, { method: "POST", body: JSON.stringify(payload || {}) });
  }

  // -- small DOM helpers ----------------------------------------------------------------
  function cell(row, value, header) {
    const td = document.createElement(header ? "th" : "td");
    if (header) { td.scope = "row"; }
    if (value instanceof Node) { td.appendChild(value); } else { td.textContent = value == null ? "–" : String(value); }
    row.appendChild(td);
    return td;
  }

  function fillTable(id, rows, render) {
    const tbody = document.querySelector("#" + id + " tbody");
    tbody.replaceChildren();
    rows.forEach(function (item) {
      const tr = document.createElement("tr");
      render(tr, item);
      tbody.appendChild(tr);
    });
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = cell(tr, "nothing yet");
      td.colSpan = document.querySelectorAll("#" + id + " thead th").length;
      tbody.appendChild(tr);
    }
  }

  function link(href, text) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function fmt(x, digits) {
    return x == null ? "–" : Number(x).toFixed(digits == null ? 1 : digits);
  }

  const layoutBase = {
    margin: { l: 60, r: 20, t: 10, b: 50 },
    font: { family: "system-ui, sans-serif", size: 13, color: "#1a1a1a" },
    legend: { orientation: "h", y: -0.25 },
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
  };
  const config = { responsive: true, displaylogo: false };

  function draw(id, traces, layout) {
    return Plotly.react(id, traces, Object.assign({}, layoutBase, layout || {}), config);
  }

  function band(x, low, high, name, colour, group) {
    return [
      { x: x, y: high, mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false, legendgroup: group },
      { x: x, y: low, mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: colour, name: name, legendgroup: group },
    ];
  }

  // -- patient view -----------------------------------------------------------------------
  function patientView() {
    const twin = body.dataset.twinId;
    const view = { state: null, forecast: null };

    function drawGlucose() {
      const state = view.state, fc = view.forecast;
      if (!state || !fc) { return; }
      const q = fc.quantiles;
      const traces = []
        .concat(band(fc.t_min, q["0.05"], q["0.95"], "forecast 90 %", "rgba(11,92,173,0.15)", "b90"))
        .concat(band(fc.t_min, q["0.25"], q["0.75"], "forecast 50 %", "rgba(11,92,173,0.30)", "b50"));
      traces.push({ x: fc.t_min, y: q["0.5"], mode: "lines", name: "forecast median", line: { color: "#0b5cad", width: 2 } });
      traces.push({
        x: state.readings.map(function (r) { return r.t_min; }),
        y: state.readings.map(function (r) { return r.glucose_mg_dl; }),
        mode: "markers", name: "CGM readings", marker: { color: "#1a1a1a", size: 6 },
      });
      if (state.events.length) {
        traces.push({
          x: state.events.map(function (e) { return e.t_min; }),
          y: state.events.map(function () { return 40; }),
          mode: "markers", name: "meals and boluses", marker: { symbol: "triangle-up", size: 12, color: "#8a1c00" },
          text: state.events.map(function (e) { return e.meal_g + " g, " + e.bolus_u + " U"; }),
        });
      }
      draw("glucose-plot", traces, {
        xaxis: { title: { text: "minutes after the twin's start" } },
        yaxis: { title: { text: "glucose (mg/dL)" }, rangemode: "tozero" },
        shapes: [{ type: "rect", xref: "paper", x0: 0, x1: 1, y0: 70, y1: 180, fillcolor: "rgba(30,107,47,0.07)", line: { width: 0 }, layer: "below" }],
      });
      const last = q["0.5"][q["0.5"].length - 1];
      document.getElementById("glucose-summary").textContent =
        state.n_readings + " readings; now " + fmt(state.glucose_mg_dl["0.5"]) + " mg/dL (90 %: " +
        fmt(state.glucose_mg_dl["0.05"]) + "–" + fmt(state.glucose_mg_dl["0.95"]) + "); forecast in " +
        fmt(fc.t_min[fc.t_min.length - 1] - fc.t_min[0], 0) + " min: " + fmt(last) + " mg/dL.";
      body.dataset.forecastVersion = String(fc.version);
      body.dataset.nReadings = String(state.n_readings);
    }

    function showState(state) {
      view.state = state;
      fillTable("params-table", state.parameters, function (tr, p) {
        cell(tr, p.name, true);
        cell(tr, fmt(p.mean, 4));
        cell(tr, fmt(p.low, 4) + " – " + fmt(p.high, 4));
        cell(tr, fmt(p.nominal, 4));
      });
      const list = document.getElementById("events-list");
      list.replaceChildren();
      state.events.forEach(function (e) {
        const li = document.createElement("li");
        li.textContent = "t=" + fmt(e.t_min, 0) + " min: " + e.meal_g + " g carbohydrate, " + e.bolus_u + " U bolus (" + e.source + ")";
        list.appendChild(li);
      });
      if (!state.events.length) {
        const li = document.createElement("li");
        li.textContent = "no meal or bolus recorded";
        list.appendChild(li);
      }
    }

    async function refresh() {
      const [state, fc] = await Promise.all([
        api("/twins/" + twin + "/state"),
        api("/twins/" + twin + "/forecast?horizon_min=120&dt_min=5"),
      ]);
      showState(state);
      view.forecast = fc;
      drawGlucose();
      document.getElementById("last-update").textContent = new Date().toLocaleTimeString();
    }

    // Vital signs and NEWS2 have one panel, drawn by vitals.js from /twins/{id}/vitals and
    // the stream's `vitals` events (the twin's sets include those on file at its creation).

    async function loadRecommendations() {
      const data = await api("/twins/" + twin + "/recommendations");
      fillTable("recs-table", data.recommendations.slice().reverse(), function (tr, r) {
        cell(tr, new Date(r.proposed_time).toLocaleTimeString(), true);
        const v = r.value || {};
        cell(tr, v.plan ? v.meal_g + " g with " + v.bolus_u + " U" : (v.status || "no plan"));
        const status = cell(tr, r.status);
        status.className = "status-" + r.status;
        if (r.status !== "proposed") {
          cell(tr, (r.decided_by || "") + (r.reason ? ": " + r.reason : ""));
          return;
        }
        const box = document.createElement("div");
        const accept = document.createElement("button");
        accept.type = "button";
        accept.textContent = "Accept";
        accept.setAttribute("aria-label", "Accept recommendation " + r.id);
        accept.addEventListener("click", function () { decide(r.id, "accept", { reason: "accepted in dashboard" }); });
        box.appendChild(accept);
        const form = document.createElement("form");
        const id = "override-" + r.id;
        const label = document.createElement("label");
        label.htmlFor = id;
        label.textContent = "Override bolus (U)";
        const input = document.createElement("input");
        input.id = id; input.type = "number"; input.min = "0"; input.max = "30"; input.step = "0.1"; input.required = true;
        const reasonLabel = document.createElement("label");
        reasonLabel.htmlFor = id + "-reason";
        reasonLabel.textContent = "Reason";
        const reason = document.createElement("input");
        reason.id = id + "-reason"; reason.required = true;
        const button = document.createElement("button");
        button.type = "submit"; button.className = "secondary"; button.textContent = "Override";
        form.append(label, input, reasonLabel, reason, button);
        form.addEventListener("submit", function (event) {
          event.preventDefault();
          decide(r.id, "override", { reason: reason.value, value: { bolus_u: Number(input.value), meal_g: v.meal_g || 0 } });
        });
        box.appendChild(form);
        cell(tr, box);
      });
    }

    async function decide(id, what, payload) {
      try {
        await post("/recommendations/" + id + "/" + what, payload);
        say("Recommendation " + id + " " + (what === "accept" ? "accepted" : "overridden") + ".");
        await Promise.all([loadRecommendations(), refresh()]);
      } catch (err) { say("Could not record the decision: " + err.message); }
    }

    document.getElementById("reading-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const t = document.getElementById("reading-t").value;
      const g = Number(document.getElementById("reading-g").value);
      const last = view.state && view.state.readings.length ? view.state.readings[view.state.readings.length - 1].t_min : 0;
      const tMin = t === "" ? Math.max(last, view.state ? view.state.t_min : 0) + 5 : Number(t);
      try {
        await post("/twins/" + twin + "/observations", { t_min: tMin, glucose_mg_dl: g });
        say("Reading " + g + " mg/dL at " + tMin + " min sent.");
        await refresh();
      } catch (err) { say("Could not send the reading: " + err.message); }
    });

    document.getElementById("recommend-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      say("Computing a recommendation…");
      try {
        const r = await post("/twins/" + twin + "/recommendations", { meal_g: Number(document.getElementById("meal-g").value) });
        say("Recommendation " + r.id + ": " + (r.value.plan || r.value.status) + ".");
        await loadRecommendations();
      } catch (err) { say("Could not recommend: " + err.message); }
    });

    async function live() {
      const state = document.getElementById("live-state");
      for (let attempt = 0; attempt < 1000; attempt++) {
        try {
          const response = await fetch(API + "/twins/" + twin + "/stream?max_s=300", { headers: headers({ "Accept": "text/event-stream" }) });
          if (!response.ok) { throw new Error(String(response.status)); }
          state.textContent = "connected";
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          let buffer = "";
          for (;;) {
            const chunk = await reader.read();
            if (chunk.done) { break; }
            buffer += decoder.decode(chunk.value, { stream: true });
            let cut;
            while ((cut = buffer.indexOf("\n\n")) >= 0) {
              handleEvent(buffer.slice(0, cut));
              buffer = buffer.slice(cut + 2);
            }
          }
        } catch (err) {
          state.textContent = "reconnecting (" + err.message + ")";
        }
        await new Promise(function (resolve) { setTimeout(resolve, 2000); });
      }
    }

    function handleEvent(block) {
      let kind = "message", data = "";
      block.split("\n").forEach(function (line) {
        if (line.startsWith("event:")) { kind = line.slice(6).trim(); }
        if (line.startsWith("data:")) { data += line.slice(5).trim(); }
      });
      if (!data) { return; }
      // Other panels (vitals.js) hear every event of the one stream.
      document.dispatchEvent(new CustomEvent("healthtwin:stream", { detail: { kind: kind, data: data } }));
      if (kind !== "reading") { return; }
      const payload = JSON.parse(data);
      if (view.state) {
        view.state.readings = view.state.readings.concat(payload.readings)
          .sort(function (a, b) { return a.t_min - b.t_min; });
        view.state.n_readings = view.state.readings.length;
      }
      if (!view.forecast || payload.forecast.version >= view.forecast.version) {
        view.forecast = payload.forecast;
      }
      drawGlucose();
      document.getElementById("last-update").textContent = new Date().toLocaleTimeString();
      refresh().catch(function (err) { say(err.message); });
    }

    Promise.all([refresh(), loadRecommendations()])
      .catch(function (err) { say("Could not load the twin: " + err.message); });
    live();
  }

  // NEWS2 (RCP 2017) sub-scores of one observation on SpO2 scale 1, on air, alert: the chart's
  // lower band limits, the same as physiology/scores.py (values rounded half up to the
  // chart's resolution, with the same slack).
  const NEWS2_BANDS = {
    respiratory_rate_per_min: { limits: [9, 12, 21, 25], scores: [3, 1, 0, 2, 3], resolution: 1 },
    spo2_percent: { limits: [92, 94, 96], scores: [3, 2, 1, 0], resolution: 1 },
    systolic_bp_mm_hg: { limits: [91, 101, 111, 220], scores: [3, 2, 1, 0, 3], resolution: 1 },
    heart_rate_per_min: { limits: [41, 51, 91, 111, 131], scores: [3, 1, 0, 1, 2, 3], resolution: 1 },
    temperature_c: { limits: [35.1, 36.1, 38.1, 39.1], scores: [3, 1, 0, 1, 2], resolution: 0.1 },
  };

  function news2Subscore(key, value) {
    const table = NEWS2_BANDS[key];
    const charted = Math.floor(value / table.resolution + 0.5 + 1e-9);
    const band = table.limits.filter(function (l) { return Math.round(l / table.resolution) <= charted; }).length;
    return table.scores[band];
  }
  window.healthtwinNews2Subscore = news2Subscore;
  window.healthtwinApi = api;

  // -- region view ------------------------------------------------------------------------
  const palette = ["#0b5cad", "#c0392b", "#1e6b2f", "#7d3c98", "#b9770e", "#117a8b"];

  function regionView() {
    const job = body.dataset.jobId;
    const view = { result: null };
    const select = document.getElementById("regions-n");

    // One small panel per region (the most populous first, at most the chosen number):
    // incidence with bands, Rt with bands, ICU occupancy against the region's own beds.
    function drawRegions() {
      const result = view.result;
      if (!result) { return; }
      const names = Object.keys(result.variants);
      const first = result.variants[names[0]];
      const all = Object.keys((first && first.by_region) || {});
      const box = document.getElementById("region-panels");
      box.replaceChildren();
      if (!all.length) {
        document.getElementById("regions-note").textContent = "This run holds no per-region series (it was stored before they were kept).";
        return;
      }
      const ranked = all.slice().sort(function (a, b) { return first.by_region[b].population - first.by_region[a].population; });
      const shown = ranked.slice(0, Number(select.value));
      document.getElementById("regions-note").textContent = shown.length < all.length
        ? "Showing the " + shown.length + " most populous of " + all.length + " regions; the nation panels above sum all of them."
        : "All " + all.length + " regions.";
      shown.forEach(function (region, k) {
        const figure = document.createElement("figure");
        figure.className = "panel";
        figure.dataset.region = region;
        const caption = document.createElement("figcaption");
        caption.id = "region-cap-" + k;
        caption.textContent = region + " (population " + Math.round(first.by_region[region].population).toLocaleString() + ")";
        const plot = document.createElement("div");
        plot.id = "region-plot-" + k;
        plot.className = "plot panel-plot";
        plot.setAttribute("role", "img");
        plot.setAttribute("aria-label", "Region " + region + ": incidence, Rt and ICU occupancy against its ICU beds, per variant");
        figure.append(caption, plot);
        box.appendChild(figure);
        draw(plot.id, regionTraces(result, names, region), regionLayout(result, names, region));
      });
    }

    function regionTraces(result, names, region) {
      let traces = [];
      names.forEach(function (name, i) {
        const r = result.variants[name].by_region[region], day = result.variants[name].day;
        const colour = palette[i % palette.length], legend = true;
        traces = traces.concat(band(day, r.incidence["0.05"], r.incidence["0.95"], name + " 90 %", hexa(colour, 0.15), name)
          .map(function (t) { return Object.assign(t, { showlegend: false }); }));
        traces.push({ x: day, y: r.incidence["0.5"], mode: "lines", name: name, line: { color: colour }, legendgroup: name, showlegend: legend });
        if (r.rt.t_end.length) {
          traces = traces.concat(band(r.rt.t_end, r.rt.low, r.rt.high, name + " Rt 95 %", hexa(colour, 0.15), name)
            .map(function (t) { return Object.assign(t, { yaxis: "y2", showlegend: false }); }));
          traces.push({ x: r.rt.t_end, y: r.rt.mean, mode: "lines", name: name + " Rt", yaxis: "y2", line: { color: colour }, legendgroup: name, showlegend: false });
        }
        traces = traces.concat(band(day, r.icu_occupancy["0.05"], r.icu_occupancy["0.95"], name + " ICU 90 %", hexa(colour, 0.15), name)
          .map(function (t) { return Object.assign(t, { yaxis: "y3", showlegend: false }); }));
        traces.push({ x: day, y: r.icu_occupancy["0.5"], mode: "lines", name: name + " ICU", yaxis: "y3", line: { color: colour }, legendgroup: name, showlegend: false });
      });
      const v = result.variants[names[0]], beds = v.by_region[region].icu_beds;
      if (beds != null) {
        traces.push({ x: [v.day[0], v.day[v.day.length - 1]], y: [beds, beds], mode: "lines", name: "ICU beds", yaxis: "y3", line: { color: "#1a1a1a", dash: "dash" } });
      }
      return traces;
    }

    function regionLayout(result, names, region) {
      const peak = Math.max.apply(null, names.map(function (n) { return Math.max.apply(null, result.variants[n].by_region[region].incidence["0.95"]); }));
      return {
        margin: { l: 55, r: 10, t: 10, b: 70 },
        legend: { orientation: "h", y: -0.22, font: { size: 11 } },
        xaxis: { title: { text: "day", standoff: 4 }, anchor: "y3" },
        // A region the epidemic never reached keeps a readable 0-1 axis.
        yaxis: Object.assign({ domain: [0.7, 1], title: { text: "infections/day" }, rangemode: "tozero" },
          peak >= 1 ? { tickformat: "~s" } : { range: [0, 1], dtick: 1 }),
        yaxis2: { domain: [0.37, 0.63], title: { text: "Rt" }, anchor: "x" },
        yaxis3: { domain: [0, 0.3], title: { text: "ICU" }, rangemode: "tozero", anchor: "x" },
        shapes: [{ type: "line", xref: "paper", yref: "y2", x0: 0, x1: 1, y0: 1, y1: 1, line: { dash: "dot", color: "#4a4a4a" } }],
      };
    }

    select.addEventListener("change", drawRegions);
    document.getElementById("regions-form").addEventListener("submit", function (event) { event.preventDefault(); drawRegions(); });

    async function poll() {
      const status = await api("/scenarios/" + job);
      document.getElementById("job-progress").value = status.progress;
      document.getElementById("job-message").textContent = status.status + ": " + status.message;
      if (status.status === "succeeded") { return show(await api("/scenarios/" + job + "/results")); }
      if (status.status === "failed" || status.status === "cancelled" || status.status === "interrupted") { say("The run " + status.status + ": " + (status.error || status.message)); return null; }
      setTimeout(function () { poll().catch(function (err) { say(err.message); }); }, 1000);
      return null;
    }

    function show(result) {
      const names = Object.keys(result.variants);
      let inc = [], icu = [], rt = [];
      names.forEach(function (name, i) {
        const v = result.variants[name], colour = palette[i % palette.length];
        inc = inc.concat(band(v.day, v.incidence["0.05"], v.incidence["0.95"], name + " 90 %", hexa(colour, 0.15), name));
        inc.push({ x: v.day, y: v.incidence["0.5"], mode: "lines", name: name, line: { color: colour }, legendgroup: name });
        icu.push({ x: v.day, y: v.icu_occupancy["0.5"], mode: "lines", name: name, line: { color: colour } });
        if (v.rt.t_end.length) {
          rt = rt.concat(band(v.rt.t_end, v.rt.low, v.rt.high, name + " 95 %", hexa(colour, 0.15), name));
          rt.push({ x: v.rt.t_end, y: v.rt.mean, mode: "lines", name: name, line: { color: colour }, legendgroup: name });
        }
      });
      const first = result.variants[names[0]];
      if (first && first.icu_beds != null) {
        icu.push({ x: [first.day[0], first.day[first.day.length - 1]], y: [first.icu_beds, first.icu_beds], mode: "lines", name: "ICU beds", line: { color: "#1a1a1a", dash: "dash" } });
      }
      const dayAxis = { xaxis: { title: { text: "day" } } };
      draw("incidence-plot", inc, Object.assign({ yaxis: { title: { text: "new infections per day" } } }, dayAxis));
      draw("icu-plot", icu, Object.assign({ yaxis: { title: { text: "ICU occupancy" } } }, dayAxis));
      draw("rt-plot", rt, Object.assign({ yaxis: { title: { text: "Rt" } }, shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 1, y1: 1, line: { dash: "dot", color: "#4a4a4a" } }] }, dayAxis));
      // Room on the right for the second axis; short tick labels; no second grid over the first.
      draw("compare-plot", [
        bar(names, result, "total_infections", "total infections", "#0b5cad", "y"),
        bar(names, result, "peak_icu_occupancy", "peak ICU occupancy", "#c0392b", "y2"),
      ], {
        barmode: "group",
        margin: { l: 80, r: 90, t: 10, b: 50 },
        yaxis: { title: { text: "total infections", standoff: 10 }, tickformat: "~s", rangemode: "tozero", automargin: true },
        yaxis2: {
          title: { text: "peak ICU occupancy", standoff: 10 }, overlaying: "y", side: "right",
          tickmode: "auto", tickformat: "~s", rangemode: "tozero", showgrid: false, automargin: true,
        },
      });
      view.result = result;
      drawRegions();
      fillTable("compare-table", names, function (tr, name) {
        const v = result.variants[name];
        cell(tr, name, true);
        cell(tr, interval(v.total_infections));
        cell(tr, interval(v.peak_icu_occupancy));
      });
      return result;
    }

    function bar(names, result, key, label, colour, axis) {
      const mid = names.map(function (n) { return result.variants[n][key]["0.5"]; });
      return {
        type: "bar", x: names, y: mid, name: label, marker: { color: colour }, yaxis: axis,
        offsetgroup: key,
        error_y: {
          type: "data", symmetric: false,
          array: names.map(function (n, i) { return result.variants[n][key]["0.95"] - mid[i]; }),
          arrayminus: names.map(function (n, i) { return mid[i] - result.variants[n][key]["0.05"]; }),
        },
      };
    }

    function interval(x) { return fmt(x["0.5"], 0) + " (" + fmt(x["0.05"], 0) + "–" + fmt(x["0.95"], 0) + ")"; }

    poll().catch(function (err) { say("Could not load the scenario: " + err.message); });
  }

  function hexa(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  // -- hospital view ------------------------------------------------------------------------
  function hospitalView() {
    const select = document.getElementById("hospital-select");
    let hospital = body.dataset.hospitalId || "";

    async function choose() {
      const data = await api("/hospitals");
      select.replaceChildren();
      data.hospitals.forEach(function (h) {
        const option = document.createElement("option");
        option.value = h.hospital_id;
        option.textContent = h.name + " (" + h.hospital_id + ")";
        select.appendChild(option);
      });
      if (!data.hospitals.length) { say("No hospital twin yet: create one with POST /api/v1/hospitals."); return null; }
      if (!hospital) { hospital = data.hospitals[0].hospital_id; }
      select.value = hospital;
      return load();
    }

    async function load() {
      const state = await api("/hospitals/" + encodeURIComponent(hospital));
      showCensus(state);
      if (state.latest_run) { return follow(state.latest_run); }
      document.getElementById("run-message").textContent = "no forecast yet: run one";
      return null;
    }

    function showCensus(state) {
      const names = state.units.map(function (u) { return u.name; });
      draw("census-plot", [
        { type: "bar", x: names, y: state.units.map(function (u) { return u.census; }), name: "in beds now", marker: { color: "#0b5cad" } },
        { type: "bar", x: names, y: state.units.map(function (u) { return u.beds - u.census; }), name: "free beds", marker: { color: "#c8c8c8" } },
      ], { barmode: "stack", yaxis: { title: { text: "beds" } } });
      fillTable("census-table", state.units, function (tr, u) {
        cell(tr, u.name, true); cell(tr, u.kind); cell(tr, u.beds); cell(tr, u.census);
        cell(tr, u.beds ? Math.round(100 * u.census / u.beds) + " %" : "–");
      });
    }

    async function follow(job) {
      const status = await api("/jobs/" + job);
      document.getElementById("run-progress").value = status.progress;
      document.getElementById("run-message").textContent = status.status + ": " + status.message;
      if (status.status === "succeeded") { return show(await api("/hospitals/" + encodeURIComponent(hospital) + "/results?job=" + encodeURIComponent(job))); }
      if (status.status === "failed" || status.status === "cancelled" || status.status === "interrupted") { say("The forecast " + status.status + ": " + (status.error || status.message)); return null; }
      setTimeout(function () { follow(job).catch(function (err) { say(err.message); }); }, 1000);
      return null;
    }

    function show(result) {
      const names = Object.keys(result.units);
      let occ = [], queue = [];
      names.forEach(function (name, i) {
        const u = result.units[name], colour = palette[i % palette.length];
        const pct = function (xs) { return xs.map(function (x) { return 100 * x; }); };
        occ = occ.concat(band(result.day, pct(u.occupancy_fraction["0.05"]), pct(u.occupancy_fraction["0.95"]), name + " 90 %", hexa(colour, 0.15), name));
        occ.push({ x: result.day, y: pct(u.occupancy_fraction["0.5"]), mode: "lines+markers", name: name, line: { color: colour }, legendgroup: name });
        queue = queue.concat(band(result.day, u.queue_length["0.05"], u.queue_length["0.95"], name + " 90 %", hexa(colour, 0.15), name));
        queue.push({ x: result.day, y: u.queue_length["0.5"], mode: "lines+markers", name: name, line: { color: colour }, legendgroup: name });
      });
      const line = 100 * result.occupancy_alert;
      occ.push({ x: [result.day[0], result.day[result.day.length - 1]], y: [line, line], mode: "lines", name: "alert line " + line + " %", line: { color: "#8a1c00", dash: "dash" } });
      draw("occupancy-plot", occ, { xaxis: { title: { text: "day ahead" } }, yaxis: { title: { text: "beds in use (%)" }, rangemode: "tozero" } });
      draw("queue-plot", queue, { xaxis: { title: { text: "day ahead" } }, yaxis: { title: { text: "patients waiting" }, rangemode: "tozero" } });
      const list = document.getElementById("alerts-list");
      list.replaceChildren();
      result.alerts.forEach(function (a) {
        const li = document.createElement("li");
        li.className = "alert alert-" + a.severity;
        const tag = document.createElement("strong");
        tag.textContent = (a.severity === "high" ? "High" : "Watch") + ": ";
        li.append(tag, document.createTextNode(a.message));
        list.appendChild(li);
      });
      if (!result.alerts.length) {
        const li = document.createElement("li");
        li.textContent = "no alert over the next " + result.days + " days";
        list.appendChild(li);
      }
      const ew = result.early_warning;
      document.getElementById("early-summary").textContent = "Deteriorations a day (median, 90 % band) over " + result.days + " days: " +
        fmt(ew.deteriorations["0.5"].reduce(function (a, b) { return a + b; }, 0) / result.days) + "; caught late by the early-warning score: " +
        fmt(ew.deteriorations_caught_late["0.5"].reduce(function (a, b) { return a + b; }, 0) / result.days) +
        (ew.news2_scores ? "." : " (no NEWS2 scores recorded: the course's alert sensitivity is assumed).");
      body.dataset.forecastJob = result.job_id;
      return result;
    }

    document.getElementById("hospital-choice").addEventListener("submit", function (event) {
      event.preventDefault();
      window.location.assign("/dashboard/hospitals/" + encodeURIComponent(select.value));
    });
    document.getElementById("hospital-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      try {
        const job = await post("/hospitals/" + encodeURIComponent(hospital) + "/simulate", {
          days: Number(document.getElementById("forecast-days").value),
          replications: Number(document.getElementById("forecast-reps").value),
          occupancy_alert: Number(document.getElementById("forecast-line").value) / 100,
        });
        say("Forecast " + job.id + " started.");
        await follow(job.id);
      } catch (err) { say("Could not start the forecast: " + err.message); }
    });
    choose().catch(function (err) { say("Could not load the hospital: " + err.message); });
  }

  // -- global view --------------------------------------------------------------------------
  function globalView() {
    api("/alarms").then(function (data) {
      document.getElementById("board-week").textContent = data.week
        ? "Week of " + data.week + " (" + data.method + "): " + data.n_alarms + " alarms in " + data.n_series + " series."
        : "No series monitored.";
      const status = {};
      const countries = new Set(), diseases = new Set();
      (data.series || []).forEach(function (s) {
        countries.add(s.country); diseases.add(s.disease);
        status[s.country + "|" + s.disease] = { alarm: false, ratio: 0, text: "no alarm" };
      });
      data.alarms.forEach(function (a) {
        countries.add(a.country); diseases.add(a.disease);
        status[a.country + "|" + a.disease] = { alarm: true, ratio: a.upperbound ? a.observed / a.upperbound : null, text: "alarm: " + a.observed + " (bound " + fmt(a.upperbound) + ")" };
      });
      data.undefined.forEach(function (u) {
        countries.add(u.country); diseases.add(u.disease);
        status[u.country + "|" + u.disease] = { alarm: false, ratio: null, text: "no bound: " + u.reason };
      });
      const cs = Array.from(countries).sort(), ds = Array.from(diseases).sort();
      const head = document.querySelector("#board-table thead tr");
      head.replaceChildren();
      const first = document.createElement("th"); first.scope = "col"; first.textContent = "Country"; head.appendChild(first);
      ds.forEach(function (d) { const th = document.createElement("th"); th.scope = "col"; th.textContent = d; head.appendChild(th); });
      fillTable("board-table", cs, function (tr, c) {
        const alarming = ds.some(function (d) { return status[c + "|" + d] && status[c + "|" + d].alarm; });
        const th = cell(tr, alarming ? c + " (alarm)" : c, true);
        th.dataset.country = c;
        if (alarming) { tr.className = "alarming"; tr.dataset.alarm = "true"; }
        ds.forEach(function (d) {
          const s = status[c + "|" + d];
          const td = cell(tr, s ? s.text : "not monitored");
          if (s && s.alarm) { td.className = "alarm-cell"; }
        });
      });
      draw("board-plot", [{
        type: "heatmap", x: ds, y: cs,
        z: cs.map(function (c) { return ds.map(function (d) { const s = status[c + "|" + d]; return s && s.alarm ? s.ratio : 0; }); }),
        text: cs.map(function (c) { return ds.map(function (d) { const s = status[c + "|" + d]; return s ? s.text : "not monitored"; }); }),
        hoverinfo: "x+y+text", zmin: 0, colorscale: [[0, "#f2f5f9"], [0.5, "#f4b183"], [1, "#8a1c00"]],
        colorbar: { title: { text: "observed / bound" } },
      }], { margin: { l: 60, r: 20, t: 10, b: 40 } });
      fillTable("ranked-table", data.alarms, function (tr, a) {
        cell(tr, a.rank, true); cell(tr, a.country); cell(tr, a.disease); cell(tr, a.observed);
        cell(tr, fmt(a.expected)); cell(tr, fmt(a.upperbound)); cell(tr, a.consecutive_weeks);
      });
    }).catch(function (err) { say("Could not load the alarm board: " + err.message); });
  }

  // -- governance view ----------------------------------------------------------------------
  function governanceView() {
    api("/governance/audit?hours=24&limit=200").then(function (data) {
      const counts = {};
      data.events.forEach(function (e) { counts[e.action] = (counts[e.action] || 0) + 1; });
      const actions = Object.keys(counts).sort();
      draw("audit-plot", [{ type: "bar", x: actions, y: actions.map(function (a) { return counts[a]; }), marker: { color: "#0b5cad" }, name: "events" }],
        { yaxis: { title: { text: "events" } } });
      fillTable("audit-table", data.events, function (tr, e) {
        cell(tr, new Date(e.time).toLocaleString(), true);
        cell(tr, e.actor); cell(tr, e.action); cell(tr, e.purpose); cell(tr, e.outcome);
        cell(tr, e.patient); cell(tr, e.resources.join(", "));
      });
    }).catch(function (err) { say("Could not load the audit trail: " + err.message); });
    api("/governance/cards").then(function (data) {
      fillTable("cards-table", data.cards, function (tr, c) {
        cell(tr, c.name, true); cell(tr, (c.models || [c.name]).join(", "));
        cell(tr, c.model_type); cell(tr, c.risk_level);
        cell(tr, c.primary_uses.join("; ")); cell(tr, c.caveats.join("; "));
      });
      body.dataset.nCards = String(data.cards.length);
    }).catch(function (err) { say("Could not load the model cards: " + err.message); });
    api("/governance/consents").then(function (data) {
      const rows = [];
      data.patients.forEach(function (p) {
        const consents = p.consents.length ? p.consents : [null];
        consents.forEach(function (c) { rows.push({ patient: p, consent: c }); });
      });
      const optouts = data.patients.filter(function (p) { return p.opt_out; }).length;
      const n = rows.filter(function (r) { return r.consent; }).length;
      document.getElementById("consent-summary").textContent = n + " consents on file for " + data.patients.length +
        " patients; " + optouts + " opt-outs of secondary use in the registry.";
      fillTable("consent-table", rows, function (tr, row) {
        const c = row.consent, o = row.patient.opt_out;
        cell(tr, "Patient/" + row.patient.patient, true);
        cell(tr, c ? "Consent/" + c.id : "none on file");
        cell(tr, c ? c.status + (c.active ? "" : " (not enforced)") : "–");
        cell(tr, c ? c.scope : "–");
        const decision = cell(tr, c ? (c.decision || "no base decision") + (c.purposes.length ? " for " + c.purposes.join(", ") : "") : "–");
        if (c && c.decision) { decision.className = c.decision === "deny" ? "status-overridden" : "status-accepted"; }
        cell(tr, c ? period(c.period) : "–");
        cell(tr, c && c.exceptions.length ? c.exceptions.map(function (x) {
          return (x.decision || "?") + " " + (x.purposes.length ? x.purposes.join(", ") : "any purpose") +
            (x.resource_types.length ? " on " + x.resource_types.join(", ") : "") + (x.period[0] || x.period[1] ? " (" + period(x.period) + ")" : "");
        }).join("; ") : (c && c.note ? c.note : "none"));
        cell(tr, o ? o.purposes.join(", ") + (o.since ? " since " + o.since.slice(0, 10) : "") : "no");
      });
    }).catch(function (err) { say("Could not load the consent state: " + err.message); });

    function period(p) {
      return (p[0] || "open") + " to " + (p[1] || "open");
    }
  }

  // -- overview ---------------------------------------------------------------------------
  function overview() {
    api("/twins").then(function (data) {
      fillTable("twins-table", data.twins, function (tr, t) {
        cell(tr, link("/dashboard/patients/" + encodeURIComponent(t.twin_id), t.twin_id), true);
        cell(tr, t.patient_id); cell(tr, t.n_readings); cell(tr, fmt(t.t_min, 0));
      });
    }).catch(function (err) { say(err.message); });
    api("/scenarios").then(function (data) {
      fillTable("scenarios-table", data.scenarios, function (tr, j) {
        cell(tr, link("/dashboard/regions/" + encodeURIComponent(j.id), j.id), true);
        cell(tr, j.description); cell(tr, j.status); cell(tr, Math.round(100 * j.progress) + " %");
      });
    }).catch(function (err) { say(err.message); });
    api("/hospitals").then(function (data) {
      fillTable("hospitals-table", data.hospitals, function (tr, h) {
        cell(tr, link("/dashboard/hospitals/" + encodeURIComponent(h.hospital_id), h.hospital_id), true);
        cell(tr, h.name);
        cell(tr, h.units.reduce(function (n, u) { return n + u.beds; }, 0));
        cell(tr, h.units.reduce(function (n, u) { return n + u.census; }, 0));
      });
    }).catch(function (err) { say(err.message); });
    api("/federated-runs").then(function (data) {
      fillTable("federated-table", data.federated_runs, function (tr, j) {
        cell(tr, j.id, true); cell(tr, j.description); cell(tr, j.status); cell(tr, j.rounds_done);
      });
    }).catch(function (err) { say(err.message); });
    api("/alarms").then(function (data) {
      document.getElementById("alarms-week").textContent = data.week ? "Week of " + data.week + " (" + data.method + "), " + data.n_series + " series." : "No series monitored.";
      fillTable("alarms-table", data.alarms, function (tr, a) {
        cell(tr, a.rank, true); cell(tr, a.country); cell(tr, a.disease); cell(tr, a.observed);
        cell(tr, fmt(a.upperbound)); cell(tr, a.consecutive_weeks);
      });
    }).catch(function (err) { say(err.message); });
  }

  function start() {
    takeTokenFromAddress();
    document.getElementById("purpose-input").value = sessionStorage.getItem(PURPOSE_KEY) || "TREAT";
    document.getElementById("token-form").addEventListener("submit", function (event) {
      event.preventDefault();
      const input = document.getElementById("token-input");
      sessionStorage.setItem(PURPOSE_KEY, document.getElementById("purpose-input").value);
      if (input.value) { sessionStorage.setItem(TOKEN_KEY, input.value.trim()); input.value = ""; }
      window.location.reload();
    });
    const views = {
      patient: patientView, region: regionView, governance: governanceView, overview: overview,
      hospital: hospitalView, global: globalView,
    };
    const view = views[body.dataset.view];
    if (view) { view(); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
