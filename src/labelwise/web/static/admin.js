// Admin forms: users, classes, queue settings, assignment, gold, rounds, label issues.
"use strict";
(() => {
  const { api, toast, formData } = LW;
  function onSubmit(id, build) {
    const form = document.getElementById(id);
    if (!form) return;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const [method, url, body, done] = build(formData(form), form);
      const btn = form.querySelector("button");
      if (btn) btn.disabled = true;
      try {
        const out = await api(method, url, body);
        toast(done ? done(out) : "Saved");
        setTimeout(() => location.reload(), 700);
      } catch (e) { toast(e.message, "error"); } finally { if (btn) btn.disabled = false; }
    });
  }
  const num = (v) => (v === "" || v == null ? null : Number(v));
  onSubmit("add-user", (d) => ["POST", "/api/users", { name: d.name, password: d.password, role: d.role }, () => "User added"]);
  onSubmit("add-class", (d) => ["POST", "/api/classes", { name: d.name }, () => "Class added"]);
  onSubmit("rename-class", (d) => ["POST", "/api/classes/rename", { old: d.old, new: d.new }, (o) => `Renamed; ${o.labels_changed} labels follow`]);
  onSubmit("merge-class", (d) => ["POST", "/api/classes/merge", { source: d.source, target: d.target }, (o) => `Merged; ${o.labels_changed} labels moved`]);
  onSubmit("retire-class", (d) => ["POST", "/api/classes/retire", { name: d.name }, () => "Retired"]);
  onSubmit("settings", (d) => ["POST", "/api/queue/settings", {
    overlap_fraction: num(d.overlap_fraction), overlap_k: num(d.overlap_k), gold_rate: num(d.gold_rate) }]);
  onSubmit("assign", (d, form) => ["POST", "/api/queue/assign", {
    annotators: [...form.querySelectorAll('input[name="annotators"]:checked')].map((i) => i.value), n: num(d.n) },
    (o) => "Assigned: " + Object.entries(o.assigned).map(([k, v]) => k + " " + v).join(", ")]);
  onSubmit("gold", (d) => ["POST", "/api/gold", { from_labels: d.from_labels.split(/\s+/).filter(Boolean) }, (o) => o.gold + " gold samples"]);
  onSubmit("start-round", (d, form) => ["POST", "/api/rounds", {
    strategy: d.strategy, batch_size: num(d.batch_size), model: d.model, train: form.querySelector('[name="train"]').checked,
    random_share: num(d.random_share) || 0, force: form.querySelector('[name="force"]').checked },
    (o) => `Round ${o.round}: ${o.selected} selected, ${o.queued} queued`]);
  document.querySelectorAll(".save-user").forEach((btn) => btn.addEventListener("click", async () => {
    const row = btn.closest("tr");
    try {
      await api("PATCH", "/api/users/" + encodeURIComponent(row.dataset.name), {
        role: row.querySelector(".role").value, active: row.querySelector(".active").checked });
      toast("Saved");
    } catch (e) { toast(e.message, "error"); }
  }));
  document.querySelectorAll(".release-user").forEach((btn) => btn.addEventListener("click", async () => {
    const name = btn.closest("tr").dataset.name;
    btn.disabled = true;
    try {
      const o = await api("POST", "/api/queue/release", { annotator: name });
      toast(`Released ${o.released} item(s) of ${name}`);
      setTimeout(() => location.reload(), 700);
    } catch (e) { toast(e.message, "error"); btn.disabled = false; }
  }));
  const q = document.getElementById("queue-issues");
  if (q) q.addEventListener("click", async () => {
    try { const o = await api("POST", "/api/issues/queue", { top: 50 }); toast(o.flagged + " labels sent to review"); }
    catch (e) { toast(e.message, "error"); }
  });
})();
