// healthtwin dashboard, patient view: the one vital-signs and NEWS2 panel. The latest set
// with its NEWS2 (total, risk band in colour and words, RCP Chart 4 response, sub-scores)
// and the NEWS2 trend, loaded at page load from /twins/{id}/vitals (which holds the sets
// on file when the twin was made as well as those posted since) and updated by each
// `vitals` event of the twin's stream (app.js re-dispatches the stream's events as
// "healthtwin:stream"). Without any set the panel says so in words and draws no plot.
// No framework; data is written with textContent only.
"use strict";

(function () {
  const body = document.body;
  if (body.dataset.view !== "patient") { return; }
  const twin = body.dataset.twinId;
  const sets = new Map();  // key -> { vitals, news2 }

  // Light fills with dark text (contrast above 10:1); the band is also written in words.
  const BANDS = {
    "low": { fill: "#d8efdc", line: "#1e6b2f" },
    "low-medium": { fill: "#fff1b8", line: "#7a5a00" },
    "medium": { fill: "#ffd9b0", line: "#a04000" },
    "high": { fill: "#f9c4c4", line: "#8a1c00" },
  };
  const ROWS = [
    { key: "respiratory_rate_per_min", score: "respiration_rate", label: "Respiration rate", unit: "/min", digits: 0 },
    { key: "spo2_percent", score: "spo2", label: "SpO2", unit: "%", digits: 0 },
    { key: "on_oxygen", score: "air_or_oxygen", label: "Air or oxygen" },
    { key: "systolic_bp_mm_hg", score: "systolic_bp", label: "Systolic BP", unit: "mmHg", digits: 0 },
    { key: "heart_rate_per_min", score: "pulse", label: "Pulse", unit: "/min", digits: 0 },
    { key: "consciousness", score: "consciousness", label: "Consciousness (ACVPU)" },
    { key: "temperature_c", score: "temperature", label: "Temperature", unit: "°C", digits: 1 },
  ];

  function keyOf(vitals) {
    return JSON.stringify(ROWS.map(function (r) { return vitals[r.key]; }).concat([vitals.t_min, vitals.spo2_scale]));
  }

  function add(vitals, news2) {
    sets.set(keyOf(vitals), { vitals: vitals, news2: news2 });
  }

  function valueText(row, v) {
    if (row.key === "on_oxygen") { return v.on_oxygen ? "oxygen" : "air"; }
    if (row.key === "consciousness") { return v.consciousness; }
    const text = Number(v[row.key]).toFixed(row.digits) + " " + row.unit;
    return row.key === "spo2_percent" ? text + " (scale " + v.spo2_scale + ")" : text;
  }

  function render() {
    const ordered = Array.from(sets.values()).sort(function (a, b) { return a.vitals.t_min - b.vitals.t_min; });
    const out = document.getElementById("news2-live");
    const shown = document.getElementById("vitals-shown");
    body.dataset.vitalsSets = String(ordered.length);
    if (!ordered.length) {
      out.textContent = "No vital signs yet.";
      shown.hidden = true;
      return;
    }
    shown.hidden = false;  // before drawing, so that the plot takes the panel's width
    const last = ordered[ordered.length - 1];
    const n = last.news2, band = BANDS[n.band] || BANDS.high;
    out.textContent = "NEWS2 " + n.total + ": " + n.band + " clinical risk (" + n.trigger + ")" +
      (n.any_single_3 ? ", a score of 3 in one parameter" : "") + ". Monitoring " +
      n.monitoring_frequency + "; " + n.actions[0] + ". Latest set at t = " +
      Number(last.vitals.t_min).toFixed(0) + " min (" + new Date(last.vitals.time).toLocaleString() + ").";
    out.style.background = band.fill;
    out.style.color = "#1a1a1a";
    out.style.borderLeft = "6px solid " + band.line;
    out.style.padding = "0.5rem 0.75rem";
    out.dataset.band = n.band;

    const tbody = document.querySelector("#latest-vitals-table tbody");
    tbody.replaceChildren();
    ROWS.forEach(function (row) {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = row.label;
      const value = document.createElement("td");
      value.textContent = valueText(row, last.vitals);
      const score = document.createElement("td");
      score.textContent = String(n.subscores[row.score]);
      tr.append(th, value, score);
      tbody.appendChild(tr);
    });

    const x = ordered.map(function (s) { return s.vitals.t_min; });
    const y = ordered.map(function (s) { return s.news2.total; });
    const top = Math.max(10, Math.max.apply(null, y) + 2);
    const zones = [[0, 4.5, "low"], [4.5, 6.5, "medium"], [6.5, top, "high"]];
    Plotly.react("news2-trend-plot", [{
      x: x, y: y, mode: "lines+markers", name: "NEWS2 total",
      line: { color: "#1a1a1a", width: 2 },
      marker: { size: 9, color: ordered.map(function (s) { return (BANDS[s.news2.band] || BANDS.high).line; }) },
      text: ordered.map(function (s) { return s.news2.band + " clinical risk"; }),
    }], {
      margin: { l: 60, r: 20, t: 10, b: 50 },
      font: { family: "system-ui, sans-serif", size: 13, color: "#1a1a1a" },
      paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff", showlegend: false,
      xaxis: { title: { text: "minutes after the twin's start" } },
      yaxis: { title: { text: "NEWS2 total" }, range: [0, top], dtick: 2 },
      shapes: zones.map(function (z) {
        return { type: "rect", xref: "paper", x0: 0, x1: 1, y0: z[0], y1: z[1], fillcolor: BANDS[z[2]].fill, opacity: 0.6, line: { width: 0 }, layer: "below" };
      }),
    }, { responsive: true, displaylogo: false });
    body.dataset.news2Live = String(n.total);
  }

  document.addEventListener("healthtwin:stream", function (event) {
    if (event.detail.kind !== "vitals") { return; }
    const payload = JSON.parse(event.detail.data);
    add(payload.vitals, payload.news2);
    render();
  });

  window.healthtwinApi("/twins/" + twin + "/vitals")
    .then(function (data) {
      data.vitals.forEach(function (v) { add(v, v.news2); });
      render();
    })
    .catch(function (err) {
      document.getElementById("news2-live").textContent = "Vital signs not available: " + err.message;
    });
}());
