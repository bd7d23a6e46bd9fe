// Review: accept or reject each label (reject needs a note).
"use strict";
(() => {
  const { api, toast } = LW;
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
