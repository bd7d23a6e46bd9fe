// The labeling page: keyboard first, next sample without a page reload.
"use strict";
(() => {
  const { api, toast, el } = LW;
  let item = null, shownAt = 0, busy = false, done = 0, zoom = 1, prefetched = null;
  let editor = null;  // the box editor (objects.js) of detection and segmentation projects
  const $ = (id) => document.getElementById(id);
  const objectTask = () => !!item && ["detection", "segmentation"].includes(item.task);

  function renderClasses(classes) {
    const box = $("classes");
    box.replaceChildren();
    classes.forEach((c, i) => {
      const key = i < 9 ? String(i + 1) : (i === 9 ? "0" : "");
      const pick = () => (editor ? editor.setClass(i) : submit(c));  // objects: a box's class
      box.append(el("button", { class: "class-btn", "data-class": c, onclick: pick },
        key ? el("kbd", { text: key }) : "", " ", c));
    });
  }

  function renderContent(smp) {
    const box = $("content");
    box.replaceChildren();
    zoom = 1;
    if (editor) { editor.destroy(); editor = null; }
    if (smp.media_url && objectTask()) {
      const s = item.suggestion;
      editor = LWObjects.editor(box, {
        src: smp.media_url, alt: smp.uid, classes: item.classes || [], task: item.task,
        prelabels: s && s.objects ? s.objects : [], onChange: objectStatus,
      });
      editor.ready.then(objectStatus, (e) => toast(e.message, "error"));
    } else if (smp.media_url) {
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
        el("figcaption", { text: offsetText(n) })));
    }
  }

  // a neighbouring frame's caption: seconds for decoded videos, frames for frame folders
  function offsetText(n) {
    if (typeof n.time_offset === "number") return (n.time_offset > 0 ? "+" : "") + n.time_offset.toFixed(2) + " s";
    return (n.offset > 0 ? "+" : "") + n.offset;
  }

  function setZoom(z) {
    zoom = Math.max(1, Math.min(4, z));
    const img = $("sample-img");
    if (img) img.style.transform = "scale(" + zoom + ")";
  }

  // the side panel of the box editor: counts, the current class, the tool
  function objectStatus() {
    if (!editor) return;
    const n = editor.counts();
    $("obj-count").textContent = n.objects + " object" + (n.objects === 1 ? "" : "s") +
      (n.prelabels ? ", " + n.prelabels + " model box" + (n.prelabels === 1 ? "" : "es") + " to accept (a) or fix" : "");
    const cur = (item.classes || [])[editor.current];
    document.querySelectorAll("#classes .class-btn").forEach((b) => b.classList.toggle("current", b.dataset.class === cur));
    document.querySelectorAll("#obj-tools [data-tool]").forEach((b) => b.classList.toggle("current", b.dataset.tool === editor.tool));
  }

  function show(data) {
    item = data;
    $("obj-tools").hidden = !objectTask();
    $("comment").value = "";
    $("unsure").checked = false;
    renderClasses(data.classes || []);
    if (!data.assignment) {
      if (editor) { editor.destroy(); editor = null; }
      $("obj-tools").hidden = true;
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
    if (s && s.objects) {
      $("suggestion").textContent = (s.source === "rejected" ? "Your rejected objects" : s.objects.length + " model boxes (" + s.source + ")") + ", dashed: a accepts the selected one, A all";
    } else {
      $("suggestion").textContent = s ? "Model suggests " + s.label + " (" + Math.round((s.confidence || 0) * 100) + " %), Enter to accept" : "";
    }
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
      assignment_id: item.assignment.id,
      unsure: $("unsure").checked, comment: $("comment").value || null,
      duration: Math.round(performance.now() - shownAt) / 1000,
    };
    if (editor) body.objects = editor.value(); else body.label = label;
    try {
      await api("POST", "/api/submit", body);
      done += 1;
      $("done-count").textContent = done;
      toast("Labeled " + item.sample.uid + (editor ? " with " + body.objects.objects.length + " objects" : " as " + label));
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
    if (editor && editor.handleKey(ev)) { ev.preventDefault(); return; }
    if (editor && ev.key === "Enter") { ev.preventDefault(); submit(); return; }
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
  $("obj-submit").addEventListener("click", () => submit());
  $("obj-delete").addEventListener("click", () => editor && editor.remove());
  $("obj-accept").addEventListener("click", () => editor && editor.handleKey({ key: "a" }));
  $("obj-accept-all").addEventListener("click", () => editor && editor.acceptAll());
  document.querySelectorAll("#obj-tools [data-tool]").forEach((b) => b.addEventListener("click", () => editor && editor.setTool(b.dataset.tool)));
  // a focused button would take Space (pan) and Enter (submit) as clicks of its own
  $("labeler").addEventListener("click", (ev) => { if (editor && ev.target.closest("button")) ev.target.closest("button").blur(); });
  $("undo").addEventListener("click", undo);
  $("help-btn").addEventListener("click", () => $("help").showModal());
  load();
})();
