// Review: accept or reject each label (reject needs a note).
"use strict";
(() => {
  const { api, toast } = LW;
  // detection and segmentation: each label's boxes and polygons over its image, read-only
  const table = document.getElementById("review-table");
  if (table && typeof LWObjects !== "undefined") {
    const classes = JSON.parse(table.dataset.classes || "[]");
    table.querySelectorAll(".review-objects").forEach((box) => {
      const doc = JSON.parse(box.dataset.objects);
      LWObjects.view(box, { src: box.dataset.media, alt: box.dataset.alt, classes,
        objects: doc.objects || [], id: "review-" + box.closest("tr").dataset.labelId });
    });
  }
  document.querySelectorAll("#review-table tbody tr").forEach((row) => {
    const id = row.dataset.labelId;
    const note = row.querySelector(".review-note");
    async function decide(decision) {
      try {
        await api("POST", "/api/review/" + id, { decision, note: note.value || null });
        row.classList.add("decided", decision);
        row.querySelectorAll("button").forEach((b) => { b.disabled = true; });
        toast(decision === "accept" ? "Accepted" : "Rejected: sent back to be relabeled");
      } catch (e) { toast(e.message, "error"); }
    }
    row.querySelector(".accept").addEventListener("click", () => decide("accept"));
    row.querySelector(".reject").addEventListener("click", () => decide("reject"));
  });
})();
