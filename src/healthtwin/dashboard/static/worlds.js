// healthtwin dashboard, worlds view: the world runs (GET /api/v1/worlds), and for the chosen
// run its key numbers per country and small multiples of the national daily bands
// (admissions, ICU demand, deaths). Uses app.js's governed API helper; data is written with
// textContent only.
"use strict";

(function () {
  const body = document.body;
  if (body.dataset.view !== "worlds") { return; }
  const api = window.healthtwinApi;
  const SERIES = [
    { key: "admissions", label: "admissions", colour: "#0b5cad", fill: "rgba(11,92,173,0.18)" },
    { key: "icu_occupancy", label: "ICU demand", colour: "#8a1c00", fill: "rgba(138,28,0,0.15)" },
    { key: "deaths", label: "deaths", colour: "#1a1a1a", fill: "rgba(26,26,26,0.15)" },
  ];

  function say(message) { document.getElementById("status").textContent = message; }

  function cell(row, value, header) {
    const td = document.createElement(header ? "th" : "td");
    if (header) { td.scope = "row"; }
    if (value instanceof Node) { td.appendChild(value); } else { td.textContent = value == null ? "–" : String(value); }
    row.appendChild(td);
  }

  function quantiles(q, digits) {
    const f = function (x) { return Number(x).toFixed(digits); };
    return f(q[1]) + " [" + f(q[0]) + ", " + f(q[2]) + "]";
  }

  // The band's words as the run reports them (its replicates decide: a range or 5-95 %).
  function bandLabel(band) { return band && band.label ? band.label : "band over replicates"; }

  function listRuns(runs, chosen) {
    const tbody = document.querySelector("#runs-table tbody");
    tbody.replaceChildren();
    runs.forEach(function (run) {
      const tr = document.createElement("tr");
      const a = document.createElement("a");
      a.href = "/dashboard/worlds/" + encodeURIComponent(run.id);
      a.textContent = run.id;
      if (run.id === chosen) { a.setAttribute("aria-current", "true"); }
      cell(tr, a, true);
      cell(tr, run.description);
      cell(tr, run.status);
      cell(tr, Math.round(100 * run.progress) + " %");
      tbody.appendChild(tr);
    });
    if (!runs.length) {
      const tr = document.createElement("tr");
      cell(tr, "no world run yet");
      tr.firstChild.colSpan = 4;
      tbody.appendChild(tr);
    }
  }

  function keyNumbers(result) {
    const tbody = document.querySelector("#key-table tbody");
    tbody.replaceChildren();
    const alarms = new Set(result.summary.alarming_countries);
    Object.keys(result.summary.countries).forEach(function (name) {
      const c = result.summary.countries[name];
      const tr = document.createElement("tr");
      tr.dataset.country = name;
      cell(tr, name, true);
      cell(tr, quantiles(c.admissions, 0));
      cell(tr, quantiles(c.deaths, 1));
      cell(tr, quantiles(c.peak_icu_demand, 0));
      cell(tr, Number(c.icu_beds).toFixed(0));
      cell(tr, quantiles(c.unmet_icu_bed_days, 0));
      cell(tr, alarms.has(name) ? "alarm" : "none");
      tbody.appendChild(tr);
    });
    document.getElementById("key-band").textContent = bandLabel(result.summary.interval);
    document.getElementById("key-section").hidden = false;
  }

  function panels(result) {
    const holder = document.getElementById("country-panels");
    holder.replaceChildren();
    Object.keys(result.series).forEach(function (name, k) {
      const label = bandLabel(result.series[name].band);
      document.getElementById("series-band").textContent = label;
      const figure = document.createElement("figure");
      figure.className = "panel";
      const caption = document.createElement("figcaption");
      caption.textContent = name;
      const plot = document.createElement("div");
      plot.id = "country-plot-" + k;
      plot.className = "plot panel-plot";
      plot.setAttribute("role", "img");
      plot.setAttribute("aria-label", name + ": national admissions, ICU demand and deaths per day, median and " + label);
      figure.appendChild(caption);
      figure.appendChild(plot);
      holder.appendChild(figure);
      const traces = [];
      SERIES.forEach(function (s) {
        const b = result.series[name][s.key];
        const days = b.q50.map(function (_, d) { return d; });
        traces.push({ x: days, y: b.q95, mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false, legendgroup: s.key });
        traces.push({ x: days, y: b.q05, mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: s.fill, name: s.label + " (" + label + ")", legendgroup: s.key });
        traces.push({ x: days, y: b.q50, mode: "lines", line: { color: s.colour, width: 2 }, name: s.label, legendgroup: s.key });
      });
      Plotly.react(plot.id, traces, {
        margin: { l: 50, r: 10, t: 10, b: 60 },
        font: { family: "system-ui, sans-serif", size: 12, color: "#1a1a1a" },
        legend: { orientation: "h", y: -0.3 },
        xaxis: { title: { text: "day" } },
        yaxis: { title: { text: "people per day" }, rangemode: "tozero" },
        paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff",
      }, { responsive: true, displaylogo: false });
    });
    document.getElementById("countries-section").hidden = false;
    body.dataset.countriesDrawn = String(Object.keys(result.series).length);
  }

  async function load() {
    const runs = (await api("/worlds")).worlds;
    const chosen = body.dataset.jobId || (runs.find(function (r) { return r.status === "succeeded"; }) || {}).id;
    listRuns(runs, chosen);
    if (!chosen) { say("No finished world run to show yet."); return; }
    const job = await api("/worlds/" + encodeURIComponent(chosen));
    if (job.status !== "succeeded") {
      say("World run " + chosen + " is " + job.status + " (" + Math.round(100 * job.progress) + " %).");
      if (job.status === "queued" || job.status === "running") { setTimeout(function () { load().catch(function (err) { say(err.message); }); }, 1500); }
      return;
    }
    const result = await api("/worlds/" + encodeURIComponent(chosen) + "/results");
    say("");
    keyNumbers(result);
    panels(result);
  }

  load().catch(function (err) { say("Could not load the world runs: " + err.message); });
})();
