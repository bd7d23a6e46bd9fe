// Dashboard: the learning curve as a small SVG: the accuracy on the random evaluation
// set with its 95 % band, CV accuracy on the selected labels as a thin secondary line,
// and with a random arm a model fit on its labels alone (the blue curve is the model fit
// on all labels), both measured on the evaluation set.
// The legend sits above the plotting area (it never covers a line); both axes have
// 5-8 ticks at round numbers (1, 2, 2.5 or 5 times a power of ten).
"use strict";
(() => {
  const box = document.getElementById("curve");
  const raw = document.getElementById("page-data");
  if (!box || !raw) return;
  const data = JSON.parse(raw.textContent);
  data.arm = [];
  draw(data);
  // the active-vs-random comparison fits models: fetch it after the page is shown
  LW.api("GET", "/api/dashboard/baseline").then((out) => {
    const note = document.getElementById("baseline-note");
    if (note && out.note) { note.textContent = out.note; note.hidden = false; }
    if (out.curves && out.curves.length) {
      data.arm = out.curves;
      draw(data);
    }
  }).catch((e) => LW.toast(e.message, "error"));
})();

// Ticks at round numbers covering [lo, hi]: 5-8 of them when the range allows
// (integer steps only for counts, so a range of 3 labels gets 4 ticks).
function niceTicks(lo, hi, integer) {
  if (!integer && hi - lo < 0.05) {  // a metric within 0.05: no axis in ten-thousandths
    const mid = (lo + hi) / 2, low = lo >= 0;
    lo = mid - 0.025; hi = mid + 0.025;
    if (low && lo < 0) { hi -= lo; lo = 0; }
  }
  if (!(hi > lo)) { lo -= 2; hi += 2; }
  if (integer && hi - lo < 4) { lo = Math.max(0, Math.floor((lo + hi) / 2) - 2); hi = lo + 4; }
  if (integer) lo = Math.max(0, lo);
  const span = hi - lo;
  let best = null;
  for (let k = Math.floor(Math.log10(span)) - 2; k <= Math.floor(Math.log10(span)) + 1; k++) {
    for (const m of [1, 2, 2.5, 5]) {
      const step = m * Math.pow(10, k);
      if (integer && (step < 1 || !Number.isInteger(step))) continue;
      const a = Math.floor(lo / step + 1e-9) * step, b = Math.ceil(hi / step - 1e-9) * step;
      const n = Math.round((b - a) / step) + 1;
      const score = n >= 5 && n <= 8 ? Math.abs(n - 6) : 100 + Math.abs(n - 6);
      if (!best || score < best.score) best = { score, step, a, n };
    }
  }
  let decimals = 0;  // as many as the step needs: 0.25 -> 2, 0.05 -> 2, 5 -> 0
  while (decimals < 6 && Math.abs(Math.round(best.step * 10 ** decimals) - best.step * 10 ** decimals) > 1e-6) decimals++;
  const ticks = [];
  for (let i = 0; i < best.n; i++) ticks.push(+(best.a + i * best.step).toFixed(10));
  return { ticks, lo: ticks[0], hi: ticks[ticks.length - 1], label: (v) => v.toFixed(integer ? 0 : decimals) };
}

function draw(data) {
  const box = document.getElementById("curve");
  // points are [labels, metric, [low, high] or undefined]
  const arm = (key) => (data.arm || []).filter((r) => r[key]).map((r) => [r[key].labels, r[key].metric, r[key].metric_ci]);
  const series = [
    { name: "evaluation accuracy (95% band)", cls: "s-main", band: true, pts: data.curve.filter((r) => r.metric != null).map((r) => [r.labels, r.metric, r.metric_ci]) },
    { name: "CV accuracy on the selected labels (biased)", cls: "s-thin", pts: data.curve.filter((r) => r.cv_metric != null).map((r) => [r.labels, r.cv_metric]) },
    { name: "random arm only (95% band)", cls: "s-dash", band: true, pts: arm("random") },
  ].filter((s) => s.pts.length);
  if (!series.length) { box.textContent = "No finished rounds yet: train a model to see the curve."; return; }
  const all = series.flatMap((s) => s.pts.flatMap((p) => (s.band && p[2] ? [p, [p[0], p[2][0]], [p[0], p[2][1]]] : [p])));
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const X = niceTicks(Math.min(...xs), Math.max(...xs), true);
  const Y = niceTicks(Math.min(...ys), Math.max(...ys), false);
  // the plotting area's margins; on the right, room for half the last x tick's label
  const W = 560, H = 270, L = 46, T = 12, B = 40, R = Math.max(14, 3.5 * X.label(X.hi).length + 4);
  const sx = (x) => L + (x - X.lo) / ((X.hi - X.lo) || 1) * (W - L - R);
  const sy = (y) => H - B - (y - Y.lo) / ((Y.hi - Y.lo) || 1) * (H - T - B);
  const NS = "http://www.w3.org/2000/svg";
  const make = (parent, tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text != null) n.textContent = text;
    parent.append(n);
    return n;
  };
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart-svg");
  const add = (tag, attrs, text) => make(svg, tag, attrs, text);
  for (const t of X.ticks) {
    add("line", { x1: sx(t), y1: T, x2: sx(t), y2: H - B, class: "grid-line" });
    add("text", { x: sx(t), y: H - B + 14, class: "tick x-tick", "text-anchor": "middle" }, X.label(t));
  }
  for (const t of Y.ticks) {
    add("line", { x1: L, y1: sy(t), x2: W - R, y2: sy(t), class: "grid-line" });
    add("text", { x: L - 5, y: sy(t) + 3, class: "tick y-tick", "text-anchor": "end" }, Y.label(t));
  }
  add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
  add("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
  add("text", { x: (L + W - R) / 2, y: H - 6, class: "tick", "text-anchor": "middle" }, "labels");
  for (const s of series) {  // the bands first, under every line
    const withCi = s.band ? s.pts.filter((p) => p[2]) : [];
    if (!withCi.length) continue;
    const upper = withCi.map((p) => sx(p[0]) + "," + sy(p[2][1]));
    const lower = withCi.slice().reverse().map((p) => sx(p[0]) + "," + sy(p[2][0]));
    add("polygon", { points: upper.concat(lower).join(" "), class: "band " + s.cls });
  }
  for (const s of series) {
    add("polyline", { points: s.pts.map((p) => sx(p[0]) + "," + sy(p[1])).join(" "), class: "line " + s.cls });
    if (s.cls !== "s-thin") s.pts.forEach((p) => add("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3, class: "dot " + s.cls }));
  }
  // the legend: an HTML row above the chart, outside the plotting area
  const legend = document.createElement("div");
  legend.className = "legend chart-legend";
  for (const s of series) {
    const key = document.createElement("span");
    key.className = "key";
    const swatch = document.createElementNS(NS, "svg");
    swatch.setAttribute("viewBox", "0 0 22 8");
    swatch.setAttribute("class", "swatch");
    make(swatch, "line", { x1: 1, y1: 4, x2: 21, y2: 4, class: "line " + s.cls });
    key.append(swatch, s.name);
    legend.append(key);
  }
  box.replaceChildren(legend, svg);
}
