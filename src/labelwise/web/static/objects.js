// Boxes and polygons over an image: the editor of the label page (detection and
// segmentation projects) and the read-only view of the review page.
//
// An SVG lies over the image inside one transformed layer, so SVG units are IMAGE
// pixels: what is stored is {width, height, objects: [{class, bbox: [x, y, w, h],
// segmentation?: [[x1, y1, x2, y2, ...]]}]} in the image's own pixels (as shown,
// EXIF rotation applied: naturalWidth/naturalHeight), never in screen pixels.
//
// Mouse: drag on the image draws a box (or clicks add polygon points); drag inside
// a box moves it; the corner handles resize it (a polygon's vertices move one by
// one); wheel zooms at the pointer; space+drag or the middle button pans.
// Keys (handleKey): 1-9, 0 class of the selected object (and of the next ones),
// Delete/Backspace delete, Tab/Shift+Tab next/previous, a accept the selected
// model box, A accept them all, b/p box/polygon tool, Enter close the polygon,
// Escape cancel it, +/- zoom, f fit.
"use strict";
const LWObjects = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#9333ea", "#0891b2",
    "#db2777", "#65a30d", "#4f46e5", "#ea580c"];
  const CORNERS = ["nw", "ne", "se", "sw"];
  const MIN_DRAG = 3;  // screen pixels: a shorter drag is a click, not a box

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const r2 = (v) => Math.round(v * 100) / 100;
  const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

  function polyBox(polys) {
    const xs = polys.flatMap((p) => p.filter((_, i) => i % 2 === 0));
    const ys = polys.flatMap((p) => p.filter((_, i) => i % 2 === 1));
    const x0 = Math.min(...xs), y0 = Math.min(...ys);
    return [x0, y0, Math.max(...xs) - x0, Math.max(...ys) - y0];
  }

  // a stored object as the editor holds it (polys: polygons; rle: a mask kept as is)
  function fromStored(o, pre) {
    const seg = o.segmentation;
    const polys = Array.isArray(seg) ? seg.map((p) => p.slice()) : null;
    return {
      cls: o.class, bbox: (o.bbox || (polys ? polyBox(polys) : [0, 0, 1, 1])).slice(),
      polys, rle: seg && !Array.isArray(seg) ? seg : null, crowd: o.iscrowd === 1,
      pre: !!pre, score: typeof o.score === "number" ? o.score : null,
    };
  }

  function toStored(o) {
    const out = { class: o.cls, bbox: o.bbox.map(r2) };
    if (o.polys) out.segmentation = o.polys.map((p) => p.map(r2));
    else if (o.rle) out.segmentation = o.rle;
    if (o.crowd) out.iscrowd = 1;
    return out;
  }

  class Editor {
    constructor(box, opts) {
      this.classes = opts.classes || [];
      this.readOnly = !!opts.readOnly;
      this.onChange = opts.onChange || (() => {});
      this.tool = opts.task === "segmentation" ? "polygon" : "box";
      this.current = 0;  // class index of the next object drawn
      this.objects = [];
      this.sel = -1;
      this.draft = null;  // polygon points being clicked [x, y, x, y, ...]
      this.drag = null;
      this.space = false;
      this.scale = 1; this.tx = 0; this.ty = 0; this.fitScale = 1;
      this.width = 0; this.height = 0;
      this.stage = document.createElement("div");
      this.stage.className = "obj-stage" + (this.readOnly ? " readonly" : "");
      this.stage.id = opts.id || "obj-stage";
      this.layer = document.createElement("div");
      this.layer.className = "obj-layer";
      this.img = document.createElement("img");
      this.img.alt = opts.alt || "";
      this.img.draggable = false;
      this.svg = svg("svg", { class: "obj-svg" });
      this.layer.append(this.img, this.svg);
      this.stage.append(this.layer);
      box.append(this.stage);
      for (const o of opts.objects || []) this.objects.push(fromStored(o, false));
      for (const o of opts.prelabels || []) this.objects.push(fromStored(o, true));
      this.ready = new Promise((resolve, reject) => {
        this.img.addEventListener("load", () => { this.setup(); resolve(this); }, { once: true });
        this.img.addEventListener("error", () => reject(new Error("the image did not load")), { once: true });
      });
      this.img.src = opts.src;
      if (!this.readOnly) this.listen();
    }

    setup() {
      this.width = this.img.naturalWidth;
      this.height = this.img.naturalHeight;
      this.img.width = this.width;  // layout size = image pixels; the layer scales it
      this.img.height = this.height;
      this.svg.setAttribute("width", this.width);
      this.svg.setAttribute("height", this.height);
      this.svg.setAttribute("viewBox", `0 0 ${this.width} ${this.height}`);
      this.stage.dataset.width = this.width;
      this.stage.dataset.height = this.height;
      this.fit();
    }

    // -- view -------------------------------------------------------------------------------
    fit() {
      const sw = this.stage.clientWidth, sh = this.stage.clientHeight;
      if (!this.width || !sw || !sh) return;
      const s = Math.min(sw / this.width, sh / this.height, 4);
      this.fitScale = s;
      this.setView(s, (sw - this.width * s) / 2, (sh - this.height * s) / 2);
    }

    setView(scale, tx, ty) {
      this.scale = scale; this.tx = tx; this.ty = ty;
      this.layer.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`;
      this.stage.dataset.scale = scale.toFixed(4);
      this.render();
    }

    zoomAt(factor, cx, cy) {  // cx, cy: stage pixels that stay put
      const s = clamp(this.scale * factor, this.fitScale / 2, 32);
      const k = s / this.scale;
      this.setView(s, cx - (cx - this.tx) * k, cy - (cy - this.ty) * k);
    }

    point(ev) {  // the pointer in image pixels
      const r = this.stage.getBoundingClientRect();
      return [(ev.clientX - r.left - this.tx) / this.scale, (ev.clientY - r.top - this.ty) / this.scale];
    }

    inside([x, y]) { return [clamp(x, 0, this.width), clamp(y, 0, this.height)]; }

    // -- state ------------------------------------------------------------------------------
    value() {
      return { width: this.width, height: this.height,
        objects: this.objects.filter((o) => !o.pre).map(toStored) };
    }

    counts() {
      const pre = this.objects.filter((o) => o.pre).length;
      return { objects: this.objects.length - pre, prelabels: pre };
    }

    changed() { this.render(); this.onChange(this); }

    select(i) { this.sel = i; this.changed(); }

    accept(i) {
      if (i >= 0 && i < this.objects.length && this.objects[i].pre) { this.objects[i].pre = false; return true; }
      return false;
    }

    acceptAll() { this.objects.forEach((o) => { o.pre = false; }); this.changed(); }

    setClass(i) {
      if (i < 0 || i >= this.classes.length) return;
      this.current = i;
      const o = this.objects[this.sel];
      if (o) { o.cls = this.classes[i]; o.pre = false; }  // fixing a model box accepts it
      this.changed();
    }

    remove() {
      if (this.sel < 0) return;
      this.objects.splice(this.sel, 1);
      this.sel = Math.min(this.sel, this.objects.length - 1);
      this.changed();
    }

    step(d) {
      const n = this.objects.length;
      if (!n) return;
      this.sel = this.sel < 0 ? (d > 0 ? 0 : n - 1) : (this.sel + d + n) % n;
      this.changed();
    }

    setTool(t) { this.tool = t; this.draft = null; this.stage.dataset.tool = t; this.changed(); }

    closePolygon() {
      if (!this.draft || this.draft.length < 6) return false;
      const polys = [this.draft.map(r2)];
      this.objects.push({ cls: this.classes[this.current], bbox: polyBox(polys), polys, rle: null,
        crowd: false, pre: false, score: null });
      this.draft = null;
      this.sel = this.objects.length - 1;
      this.changed();
      return true;
    }

    // -- keys -------------------------------------------------------------------------------
    handleKey(ev) {  // true when the key was the editor's
      const k = ev.key;
      if (/^[0-9]$/.test(k)) { this.setClass(k === "0" ? 9 : Number(k) - 1); return true; }
      if (k === "Delete" || k === "Backspace") { this.remove(); return true; }
      if (k === "Tab") { this.step(ev.shiftKey ? -1 : 1); return true; }
      if (k === "a") { if (this.accept(this.sel)) this.changed(); return true; }
      if (k === "A") { this.acceptAll(); return true; }
      if (k === "b") { this.setTool("box"); return true; }
      if (k === "p") { this.setTool("polygon"); return true; }
      if (k === "Enter") return this.closePolygon();
      if (k === "Escape") {
        if (this.draft) this.draft = null; else this.sel = -1;
        this.changed();
        return true;
      }
      const c = [this.stage.clientWidth / 2, this.stage.clientHeight / 2];
      if (k === "+" || k === "=") { this.zoomAt(1.25, ...c); return true; }
      if (k === "-") { this.zoomAt(0.8, ...c); return true; }
      if (k === "f") { this.fit(); return true; }
      if (k === " ") { this.space = true; this.stage.classList.add("panning"); return true; }
      return false;
    }

    // -- mouse ------------------------------------------------------------------------------
    listen() {
      const st = this.stage;
      st.addEventListener("pointerdown", (ev) => this.down(ev));
      st.addEventListener("pointermove", (ev) => this.move(ev));
      st.addEventListener("pointerup", (ev) => this.up(ev));
      st.addEventListener("pointercancel", () => { this.drag = null; this.render(); });
      st.addEventListener("wheel", (ev) => {
        ev.preventDefault();
        const r = st.getBoundingClientRect();
        this.zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
      }, { passive: false });
      st.addEventListener("auxclick", (ev) => ev.preventDefault());
      this.onKeyUp = (ev) => { if (ev.key === " ") { this.space = false; st.classList.remove("panning"); } };
      document.addEventListener("keyup", this.onKeyUp);
    }

    down(ev) {
      if (!this.width) return;
      const t = ev.target;
      this.stage.setPointerCapture(ev.pointerId);
      if (ev.button === 1 || (ev.button === 0 && this.space)) {
        ev.preventDefault();
        this.drag = { kind: "pan", x: ev.clientX, y: ev.clientY, tx: this.tx, ty: this.ty };
        return;
      }
      if (ev.button !== 0) return;
      const p = this.point(ev);
      const handle = t.dataset ? t.dataset.handle : undefined;
      const index = t.closest ? t.closest("[data-index]") : null;
      if (handle !== undefined && this.sel >= 0) {
        const o = this.objects[this.sel];
        this.drag = { kind: "handle", handle, start: p, bbox: o.bbox.slice(), polys: o.polys && o.polys.map((q) => q.slice()) };
      } else if (index && !this.draft) {
        this.sel = Number(index.dataset.index);
        const o = this.objects[this.sel];
        this.drag = { kind: "move", start: p, bbox: o.bbox.slice(), polys: o.polys && o.polys.map((q) => q.slice()), sx: ev.clientX, sy: ev.clientY, moved: false };
        this.changed();
      } else if (this.tool === "polygon") {
        this.draft = (this.draft || []).concat(this.inside(p).map(r2));
        this.render();
      } else {
        this.drag = { kind: "draw", start: this.inside(p), end: this.inside(p), sx: ev.clientX, sy: ev.clientY };
      }
    }

    move(ev) {
      const d = this.drag;
      if (!d) return;
      if (d.kind === "pan") {
        this.setView(this.scale, d.tx + ev.clientX - d.x, d.ty + ev.clientY - d.y);
        return;
      }
      const p = this.point(ev);
      if (d.kind === "draw") { d.end = this.inside(p); this.render(); return; }
      const o = this.objects[this.sel];
      if (!o) return;
      if (d.kind === "move") {
        if (!d.moved && Math.hypot(ev.clientX - d.sx, ev.clientY - d.sy) < MIN_DRAG) return;
        if (o.rle) return;  // a mask stays where its pixels are
        d.moved = true;
        const [x, y, w, h] = d.bbox;
        const dx = clamp(p[0] - d.start[0], -x, this.width - x - w);
        const dy = clamp(p[1] - d.start[1], -y, this.height - y - h);
        o.bbox = [x + dx, y + dy, w, h];
        if (o.polys) o.polys = d.polys.map((q) => q.map((v, i) => v + (i % 2 ? dy : dx)));
        o.pre = false;  // moving a model box fixes it
      } else if (d.kind === "handle") {
        if (o.rle) return;
        const [hx, hy] = this.inside(p);
        if (d.handle.startsWith("v")) {  // a polygon vertex "v:polygon:point"
          const [, pi, vi] = d.handle.split(":").map(Number);
          o.polys[pi][2 * vi] = hx; o.polys[pi][2 * vi + 1] = hy;
          o.bbox = polyBox(o.polys);
        } else {
          const [x, y, w, h] = d.bbox;
          let x0 = x, y0 = y, x1 = x + w, y1 = y + h;
          if (d.handle.includes("w")) x0 = hx; else x1 = hx;
          if (d.handle.includes("n")) y0 = hy; else y1 = hy;
          o.bbox = [Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0)];
        }
        o.pre = false;
      }
      this.render();
    }

    up(ev) {
      const d = this.drag;
      this.drag = null;
      if (!d) return;
      if (d.kind === "draw") {
        const big = Math.abs(ev.clientX - d.sx) >= MIN_DRAG && Math.abs(ev.clientY - d.sy) >= MIN_DRAG;
        if (!big) { this.sel = -1; this.changed(); return; }  // a click on the image: deselect
        const [ax, ay] = d.start, [bx, by] = d.end;
        this.objects.push({ cls: this.classes[this.current], pre: false, polys: null, rle: null,
          crowd: false, score: null,
          bbox: [Math.min(ax, bx), Math.min(ay, by), Math.abs(bx - ax), Math.abs(by - ay)] });
        this.sel = this.objects.length - 1;
      } else if (d.kind === "handle" || d.kind === "move") {
        const o = this.objects[this.sel];
        if (o && !(o.bbox[2] > 0 && o.bbox[3] > 0)) { this.objects.splice(this.sel, 1); this.sel = -1; }
      }
      this.changed();
    }

    // -- drawing ----------------------------------------------------------------------------
    color(name) {
      const i = this.classes.indexOf(name);
      return i < 0 ? "#f43f5e" : PALETTE[i % PALETTE.length];
    }

    render() {
      const g = this.svg, s = this.scale, hs = 9 / s;
      g.replaceChildren();
      this.objects.forEach((o, i) => {
        const c = this.color(o.cls);
        const known = this.classes.includes(o.cls);
        const grp = svg("g", { class: "obj" + (o.pre ? " pre" : "") + (i === this.sel ? " sel" : ""),
          "data-index": i, "data-class": o.cls, "data-bbox": o.bbox.map(r2).join(","),
          "data-pre": o.pre ? "1" : "0" });
        const attrs = { stroke: c, fill: c, "vector-effect": "non-scaling-stroke" };
        if (o.polys) {
          for (const q of o.polys) {
            const pts = [];
            for (let k = 0; k < q.length; k += 2) pts.push(q[k] + "," + q[k + 1]);
            grp.append(svg("polygon", { ...attrs, class: "shape", points: pts.join(" ") }));
          }
          grp.append(svg("rect", { class: "bbox-outline", x: o.bbox[0], y: o.bbox[1], width: o.bbox[2], height: o.bbox[3], stroke: c, "vector-effect": "non-scaling-stroke" }));
        } else {
          grp.append(svg("rect", { ...attrs, class: "shape", x: o.bbox[0], y: o.bbox[1], width: o.bbox[2], height: o.bbox[3] }));
        }
        const tag = (known ? o.cls : o.cls + " (not a class)") + (o.pre && o.score !== null ? " " + Math.round(o.score * 100) + "%" : "");
        const fs = 13 / s;
        const top = o.bbox[1] >= fs * 1.3 ? o.bbox[1] - fs * 1.3 : o.bbox[1];  // inside at the top edge
        grp.append(svg("rect", { class: "obj-tag-bg", x: o.bbox[0], y: top, width: (tag.length * 0.62 + 0.6) * fs, height: fs * 1.3, fill: c }));
        grp.append(svg("text", { class: "obj-tag", x: o.bbox[0] + fs * 0.3, y: top + fs * 0.95, "font-size": fs }, tag));
        g.append(grp);
      });
      const o = this.objects[this.sel];
      if (o && !this.readOnly && !o.rle) {
        const handles = [];
        if (o.polys) {
          o.polys.forEach((q, pi) => { for (let k = 0; k < q.length; k += 2) handles.push([q[k], q[k + 1], `v:${pi}:${k / 2}`]); });
        } else {
          const [x, y, w, h] = o.bbox;
          handles.push([x, y, "nw"], [x + w, y, "ne"], [x + w, y + h, "se"], [x, y + h, "sw"]);
        }
        for (const [hx, hy, name] of handles) {
          g.append(svg("rect", { class: "handle", "data-handle": name, x: hx - hs / 2, y: hy - hs / 2, width: hs, height: hs, "vector-effect": "non-scaling-stroke" }));
        }
      }
      const d = this.drag;
      if (d && d.kind === "draw") {
        const [ax, ay] = d.start, [bx, by] = d.end;
        g.append(svg("rect", { class: "draft", x: Math.min(ax, bx), y: Math.min(ay, by), width: Math.abs(bx - ax), height: Math.abs(by - ay), "vector-effect": "non-scaling-stroke" }));
      }
      if (this.draft) {
        const pts = [];
        for (let k = 0; k < this.draft.length; k += 2) pts.push(this.draft[k] + "," + this.draft[k + 1]);
        g.append(svg("polyline", { class: "draft", points: pts.join(" "), "vector-effect": "non-scaling-stroke" }));
        for (let k = 0; k < this.draft.length; k += 2) g.append(svg("circle", { class: "draft-point", cx: this.draft[k], cy: this.draft[k + 1], r: 4 / s }));
      }
      this.stage.dataset.selected = String(this.sel);
      this.stage.dataset.draft = this.draft ? String(this.draft.length / 2) : "0";
    }

    destroy() {
      if (this.onKeyUp) document.removeEventListener("keyup", this.onKeyUp);
      this.stage.remove();
    }
  }

  function editor(box, opts) { return new Editor(box, opts); }
  function view(box, opts) { return new Editor(box, { ...opts, readOnly: true }); }
  return { editor, view, CORNERS };
})();
