"""The monitoring report: ``report.json`` and a plain ``report.html`` with embedded plots.

``report.json`` holds the contract's keys ``drift`` (bool), ``alerts`` (one line per
test that fired), ``tests`` (``name, statistic, p_value, threshold, fired`` and the
raw p-value and a sentence), ``estimated_accuracy`` (a number or null) and
``enqueued`` (the ids added to the labeling queue), plus the per-feature tests, the
picks with their reasons and what was compared. ``report.html`` shows the same
with three plots (PNG, embedded): the worst features, a 2-D map of reference
against batch, the uncertainty histograms.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from labelwise.monitor._drift import DriftResult

__all__ = ["report_dict", "write_report", "summary_line"]


def report_dict(res: DriftResult, *, enqueued=(), picks=(), context: dict | None = None) -> dict:
    """The JSON report of one monitoring run."""
    est = res.estimate
    return {
        "drift": res.drift,
        "alerts": list(res.alerts),
        "tests": res.tests,
        "estimated_accuracy": None if est is None else round(est.accuracy, 6),
        "estimated_accuracy_ci": None if est is None else [round(c, 6) for c in est.ci],
        "enqueued": list(enqueued),
        "picks": list(picks),
        "alpha": res.alpha,
        "correction": "Benjamini-Hochberg across the tests (and across features within "
        "feature_drift); p_value is the adjusted p-value, p_raw the raw one",
        "n_reference": res.n_ref,
        "n_batch": res.n_batch,
        "calibration": None if est is None else est.to_dict(),
        "features": res.features,
        **(context or {}),
    }


def summary_line(report: dict) -> str:
    """One line for the terminal."""
    acc = report["estimated_accuracy"]
    acc_s = "" if acc is None else f"; estimated accuracy {acc:.3f}"
    if acc is not None and report.get("estimated_accuracy_ci"):
        lo, hi = report["estimated_accuracy_ci"]
        acc_s += f" ({lo:.3f} to {hi:.3f})"
    fired = [t["name"] for t in report["tests"] if t["fired"]]
    verdict = f"DRIFT ({', '.join(fired)})" if report["drift"] else "no drift"
    n = len(report["enqueued"])
    enq = f"; {n} enqueued" if n else ""
    return f"{report.get('batch', 'batch')}: {verdict} in {report['n_batch']} rows{acc_s}{enq}"


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _plots(res: DriftResult, X_ref, X_batch, F_ref, F_batch) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    order = np.argsort([f["p_adjusted"] for f in res.features])[:4]
    if order.size:
        fig, axes = plt.subplots(1, order.size, figsize=(3.2 * order.size, 2.6), squeeze=False)
        for ax, j in zip(axes[0], order, strict=True):
            f = res.features[j]
            lo = min(F_ref[:, j].min(), F_batch[:, j].min())
            hi = max(F_ref[:, j].max(), F_batch[:, j].max())
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 30)
            ax.hist(F_ref[:, j], bins=bins, density=True, alpha=0.5, label="reference")
            ax.hist(F_batch[:, j], bins=bins, density=True, alpha=0.5, label="batch")
            ax.set_title(f"{f['feature']}  p={f['p_adjusted']:.2g}", fontsize=9)
        axes[0][0].legend(fontsize=7)
        out.append(("Worst features (adjusted p-value)", _png(fig)))
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    ri = rng.choice(X_ref.shape[0], min(2000, X_ref.shape[0]), replace=False)
    bi = rng.choice(X_batch.shape[0], min(2000, X_batch.shape[0]), replace=False)
    if X_ref.shape[1] >= 2:
        pca = PCA(2, random_state=0).fit(np.vstack([X_ref[ri], X_batch[bi]]))
        zr, zb = pca.transform(X_ref[ri]), pca.transform(X_batch[bi])
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(zr[:, 0], zr[:, 1], s=5, alpha=0.4, label="reference")
        ax.scatter(zb[:, 0], zb[:, 1], s=5, alpha=0.4, label="batch")
        ax.legend(fontsize=7)
        ax.set_title("Embeddings, first two principal components", fontsize=9)
        out.append(("Reference against batch", _png(fig)))
    if res.unc_ref is not None:
        fig, ax = plt.subplots(figsize=(4.5, 2.8))
        bins = np.linspace(0, max(res.unc_ref.max(), res.unc_batch.max()) or 1, 30)
        ax.hist(res.unc_ref, bins=bins, density=True, alpha=0.5, label="reference")
        ax.hist(res.unc_batch, bins=bins, density=True, alpha=0.5, label="batch")
        ax.axvline(res.uncertainty.threshold, color="k", ls="--", lw=1, label="95th pct")
        ax.legend(fontsize=7)
        ax.set_title(f"Uncertainty ({res.uncertainty_name})", fontsize=9)
        out.append(("Uncertainty", _png(fig)))
    return out


def _html(report: dict, plots: list[tuple[str, str]]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(t['name'])}</td><td>{t['statistic']:.4g}</td><td>{t['p_raw']:.3g}</td>"
        f"<td>{t['p_value']:.3g}</td><td>{'<b>fired</b>' if t['fired'] else 'no'}</td>"
        f"<td>{e(t['detail'])}</td></tr>"
        for t in report["tests"]
    )
    feats = sorted(report["features"], key=lambda f: f["p_adjusted"])[:20]
    frows = "".join(
        f"<tr><td>{e(f['feature'])}</td><td>{f['test']}</td><td>{f['statistic']:.4g}</td>"
        f"<td>{f['p_adjusted']:.3g}</td><td>{f['psi']:.3f}</td></tr>"
        for f in feats
    )
    picks = "".join(
        f"<tr><td>{e(str(p['id']))}</td><td>{p['score']:.3f}</td><td>{e(p['reason'])}</td></tr>"
        for p in report["picks"]
    )
    imgs = "".join(
        f"<h2>{e(title)}</h2><img alt='{e(title)}' src='data:image/png;base64,{b64}'>"
        for title, b64 in plots
    )
    alerts = "".join(f"<li>{e(a)}</li>" for a in report["alerts"]) or "<li>none</li>"
    acc = report["estimated_accuracy"]
    acc_s = "n/a (no model)" if acc is None else f"{acc:.3f}"
    if acc is not None and report.get("estimated_accuracy_ci"):
        acc_s += " ({:.3f} to {:.3f}, 95%)".format(*report["estimated_accuracy_ci"])
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>labelwise monitor: {e(str(report.get("batch", "")))}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:1em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;font-size:90%}}
</style></head><body>
<h1>Monitoring report: {e(str(report.get("batch", "")))}</h1>
<p><b>Verdict: {"DRIFT" if report["drift"] else "no drift"}</b> at a false-alarm rate of
{report["alpha"]:.0%} ({e(report["correction"])}). Batch {report["n_batch"]} rows,
reference {report["n_reference"]} rows ({e(str(report.get("reference", "")))}).
Estimated accuracy without labels: {acc_s}.</p>
<h2>Alerts</h2><ul>{alerts}</ul>
<h2>Tests</h2><table><tr><th>test</th><th>statistic</th><th>p raw</th><th>p adjusted</th>
<th>fired</th><th>what</th></tr>{rows}</table>
<h2>Features (worst 20)</h2><table><tr><th>feature</th><th>test</th><th>statistic</th>
<th>p adjusted</th><th>PSI</th></tr>{frows}</table>
<h2>Enqueued ({len(report["enqueued"])})</h2><table><tr><th>id</th><th>score</th>
<th>reason</th></tr>{picks}</table>
{imgs}
</body></html>
"""


def write_report(
    report: dict, res: DriftResult, out: Path, *, X_ref, X_batch, F_ref=None, F_batch=None
) -> None:
    """Write ``out/report.json`` and ``out/report.html`` (each atomically)."""
    from labelwise.store import atomic_write

    F_ref = X_ref if F_ref is None else F_ref
    F_batch = X_batch if F_batch is None else F_batch
    plots = _plots(res, np.asarray(X_ref), np.asarray(X_batch), F_ref, F_batch)
    out = Path(out)
    atomic_write(out / "report.json", json.dumps(report, indent=1).encode())
    atomic_write(out / "report.html", _html(report, plots).encode())
