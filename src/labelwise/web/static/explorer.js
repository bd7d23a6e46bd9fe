// Explorer: the 2-D embedding map; clicking a point opens the sample.
"use strict";
(() => {
  const { api, toast, el } = LW;
  const box = document.getElementById("map");
  const legend = document.getElementById("legend");
  const select = document.getElementById("map-color");
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function colourer(color, points) {
    if (color === "label") {
      const names = [...new Set(points.map((p) => p.label).filter((v) => v != null))].sort();
      const of = (p) => p.label == null ? "#cfcfcf" : PALETTE[names.indexOf(p.label) % PALETTE.length];
      return { of, legend: names.map((n, i) => [PALETTE[i % PALETTE.length], n]).concat([["#cfcfcf", "unlabeled"]]) };
    }
    if (color === "selected") {
      return { of: (p) => p.selected ? "#d62728" : "#cfcfcf", legend: [["#d62728", "selected this round"], ["#cfcfcf", "other"]] };
    }
    // strategies score on different scales (a cold-start distance of 1.5, margins up to 1):
    // colour by the rank within the point's own strategy, never by the raw value
    const of = (p) => {
      if (p.score_rank == null) return "#e3e3e3";
      const t = p.score_rank;
      return `rgb(${Math.round(40 + 215 * t)},${Math.round(60 + 60 * (1 - t))},${Math.round(200 * (1 - t))})`;
    };
    return { of, legend: [["rgb(255,60,0)", "top of its strategy's scores (label first)"], ["rgb(40,120,200)", "bottom"], ["#e3e3e3", "not scored"]] };
  }

  async function draw() {
    let data;
    try { data = await api("GET", "/api/map?color=" + select.value); }
    catch (e) { box.replaceChildren(el("p", { class: "muted", text: e.message })); return; }
    const pts = data.points;
    if (!pts.length) { box.replaceChildren(el("p", { class: "muted", text: "No samples." })); return; }
    const W = 560, H = 420, P = 10;
    const xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const sx = (x) => P + (x - x0) / ((x1 - x0) || 1) * (W - 2 * P);
    const sy = (y) => H - P - (y - y0) / ((y1 - y0) || 1) * (H - 2 * P);
    const c = colourer(data.color, pts);
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("class", "map-svg");
    for (const p of pts) {
      const dot = document.createElementNS(NS, "circle");
      dot.setAttribute("cx", sx(p.x).toFixed(1));
      dot.setAttribute("cy", sy(p.y).toFixed(1));
      dot.setAttribute("r", p.selected ? 4 : 3);
      dot.setAttribute("fill", c.of(p));
      dot.setAttribute("class", "point");
      dot.setAttribute("data-id", p.id);
      const title = document.createElementNS(NS, "title");
      title.textContent = `#${p.id} ${p.label || "unlabeled"}${p.score != null ? " " + p.strategy + " " + p.score.toFixed(3) : ""}`;
      dot.append(title);
      dot.addEventListener("click", () => { window.location = "/samples/" + p.id; });
      svg.append(dot);
    }
    box.replaceChildren(svg);
    legend.replaceChildren(...c.legend.map(([col, name]) => {
      const swatch = el("i", {});
      swatch.style.background = col;  // CSSOM, allowed by the page's CSP (no inline style)
      return el("span", { class: "key" }, swatch, name);
    }));
    if (data.note) legend.append(el("span", { class: "muted small", text: " (" + data.method.toUpperCase() + ", " + data.note + ")" }));
  }
  select.addEventListener("change", draw);
  draw().catch((e) => toast(e.message, "error"));
})();
