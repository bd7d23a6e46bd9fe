// The labeling page: keyboard first, next sample without a page reload.
"use strict";
(() => {
  const { api, toast, el } = LW;
  let item = null, shownAt = 0, busy = false, done = 0, zoom = 1, prefetched = null;
  const $ = (id) => document.getElementById(id);

  function renderClasses(classes) {
    const box = $("classes");
    box.replaceChildren();
    classes.forEach((c, i) => {
      const key = i < 9 ? String(i + 1) : (i === 9 ? "0" : "");
      box.append(el("button", { class: "class-btn", "data-class": c, onclick: () => submit(c) },
        key ? el("kbd", { text: key }) : "", " ", c));
    });
  }

  function renderContent(smp) {
    const box = $("content");
    box.replaceChildren();
    zoom = 1;
    if (smp.media_url) {
      const img = el("img", { src: smp.media_url, alt: smp.uid, class: "zoomable", id: "sample-img" });
      img.addEventListener("click", () => setZoom(zoom >= 3 ? 1 : zoom + 1));
      box.append(el("div", { class: "zoom-wrap" }, img));
    }
    if (smp.text) box.append(el("p", { class: "text", text: smp.text }));
    if (smp.data) {
      const dl = el("dl", { class: "kv" });
      for (const [k, v] of Object.entries(smp.data)) dl.append(el("div", {}, el("dt", { text: k }), el("dd", { text: String(v) })));
      box.append(dl);
    }
    if (!smp.media_url && !smp.text && !smp.data) box.append(el("p", { class: "muted", text: "(no content)" }));
    const nb = $("neighbors");
    nb.replaceChildren();
    nb.hidden = !(smp.neighbors && smp.neighbors.length);
    for (const n of smp.neighbors || []) {
      nb.append(el("figure", {}, el("img", { src: n.media_url + "?thumb=1", alt: n.uid }),
        el("figcaption", { text: (n.offset > 0 ? "+" : "") + n.offset })));
    }
  }

  function setZoom(z) {
    zoom = Math.max(1, Math.min(4, z));
    const img = $("sample-img");
    if (img) img.style.transform = "scale(" + zoom + ")";
  }

  function show(data) {
    item = data;
    $("comment").value = "";
    $("unsure").checked = false;
    renderClasses(data.classes || []);
    if (!data.assignment) {
      $("item-kind").textContent = "";
      $("item-uid").textContent = "";
      $("note").hidden = true;
      $("suggestion").hidden = true;
      $("content").replaceChildren(el("p", { class: "done", text: data.message || "Nothing left to label." }));
      $("neighbors").hidden = true;
      return;
    }
    const a = data.assignment;
    $("item-kind").textContent = a.kind === "label" ? "" : a.kind;
    $("item-uid").textContent = data.sample.uid;
    $("note").hidden = !a.note;
    $("note").textContent = a.note ? "Reviewer's note: " + a.note : "";
    const s = data.suggestion;
    $("suggestion").hidden = !s;
    $("suggestion").textContent = s ? "Model suggests " + s.label + " (" + Math.round((s.confidence || 0) * 100) + " %), Enter to accept" : "";
    renderContent(data.sample);
    shownAt = performance.now();
  }

  async function load() {
    try { show(await api("GET", "/api/label")); } catch (e) { toast(e.message, "error"); }
  }

  async function submit(label) {
    if (busy || !item || !item.assignment) return;
    busy = true;
    const body = {
      assignment_id: item.assignment.id, label,
      unsure: $("unsure").checked, comment: $("comment").value || null,
      duration: Math.round(performance.now() - shownAt) / 1000,
    };
    try {
      await api("POST", "/api/submit", body);
      done += 1;
      $("done-count").textContent = done;
      toast("Labeled " + item.sample.uid + " as " + label);
      await load();
    } catch (e) {
      toast(e.message, "error");
      if (e.status === 409) await load();
    } finally { busy = false; }
  }

  async function skip() {
    if (busy || !item || !item.assignment) return;
    busy = true;
    try { await api("POST", "/api/skip", { assignment_id: item.assignment.id }); toast("Skipped"); await load(); }
    catch (e) { toast(e.message, "error"); } finally { busy = false; }
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      const out = await api("POST", "/api/undo");
      done = Math.max(0, done - 1);
      $("done-count").textContent = done;
      toast("Undone");
      if (out.item) show(out.item); else await load();
    } catch (e) { toast(e.message, "error"); } finally { busy = false; }
  }

  document.addEventListener("keydown", (ev) => {
    if ($("help").open) return;  // no labeling behind the help (Esc closes it)
    const typing = ["TEXTAREA", "INPUT", "SELECT"].includes(document.activeElement.tagName);
    if (typing) { if (ev.key === "Escape") document.activeElement.blur(); return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const classes = (item && item.classes) || [];
    if (/^[0-9]$/.test(ev.key)) {
      const i = ev.key === "0" ? 9 : Number(ev.key) - 1;
      if (i < classes.length) { ev.preventDefault(); submit(classes[i]); }
    } else if (ev.key === "s") { ev.preventDefault(); skip(); }
    else if (ev.key === "u") { ev.preventDefault(); undo(); }
    else if (ev.key === "x") { $("unsure").checked = !$("unsure").checked; }
    else if (ev.key === "c") { ev.preventDefault(); $("comment").focus(); }
    else if (ev.key === "Enter" && item && item.suggestion) { ev.preventDefault(); submit(item.suggestion.label); }
    else if (ev.key === "+" || ev.key === "=") setZoom(zoom + 1);
    else if (ev.key === "-") setZoom(zoom - 1);
    else if (ev.key === "?") { ev.preventDefault(); $("help").showModal(); }
  });
  $("skip").addEventListener("click", skip);
  $("undo").addEventListener("click", undo);
  $("help-btn").addEventListener("click", () => $("help").showModal());
  load();
})();
