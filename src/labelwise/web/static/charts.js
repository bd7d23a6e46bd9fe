// Dashboard: the learning curve (and the random replay) as a small SVG.
"use strict";
(() => {
  const box = document.getElementById("curve");
  const raw = document.getElementById("page-data");
  if (!box || !raw) return;
  const data = JSON.parse(raw.textContent);
  data.baseline = [];
  draw(data);
  // the random replay fits models: fetch it after the page is shown
  LW.api("GET", "/api/dashboard/baseline").then((out) => {
    if (out.baseline && out.baseline.length) {
      data.baseline = out.baseline;
      document.getElementById("baseline-note").hidden = false;
      draw(data);
    }
  }).catch((e) => LW.toast(e.message, "error"));
})();

function draw(data) {
  const box = document.getElementById("curve");
  const series = [
    { name: "rounds (cv accuracy)", cls: "s-main", pts: data.curve.map((r) => [r.labels, r.metric]) },
    { name: "as labeled (replay)", cls: "s-grey", pts: (data.baseline || []).filter((r) => r.as_labeled != null).map((r) => [r.labels, r.as_labeled]) },
    { name: "random (replay)", cls: "s-dash", pts: (data.baseline || []).filter((r) => r.random != null).map((r) => [r.labels, r.random]) },
  ].filter((s) => s.pts.length);
  if (!series.length) { box.textContent = "No finished rounds yet: train a model to see the curve."; return; }
  const all = series.flatMap((s) => s.pts);
  const W = 520, H = 240, P = 36;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || 1, y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = (x) => P + (x - x0) / ((x1 - x0) || 1) * (W - 2 * P);
  const sy = (y) => H - P - (y - y0) / ((y1 - y0) || 1) * (H - 2 * P);
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart-svg");
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text != null) n.textContent = text;
    svg.append(n);
    return n;
  };
  add("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, class: "axis" });
  add("line", { x1: P, y1: P, x2: P, y2: H - P, class: "axis" });
  add("text", { x: P, y: H - 8, class: "tick" }, x0);
  add("text", { x: W - P, y: H - 8, class: "tick", "text-anchor": "end" }, x1 + " labels");
  add("text", { x: 2, y: sy(y1) + 4, class: "tick" }, y1.toFixed(2));
  add("text", { x: 2, y: sy(y0) + 4, class: "tick" }, y0.toFixed(2));
  series.forEach((s, i) => {
    add("polyline", { points: s.pts.map((p) => sx(p[0]) + "," + sy(p[1])).join(" "), class: "line " + s.cls });
    s.pts.forEach((p) => add("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3, class: "dot " + s.cls }));
    add("text", { x: W - P - 150, y: P + 14 * i, class: "legend-text " + s.cls }, s.name);
  });
  box.replaceChildren(svg);
}
