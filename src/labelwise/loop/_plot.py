"""Learning-curve plots for bench results."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_learning_curves", "plot_project_curve"]


def plot_learning_curves(results: dict, path: str | Path) -> Path:
    """Write a PNG of metric vs labels: mean ± std band per strategy, random dashed.

    Each strategy's median "would stop here" point (when a stopping rule fired)
    is marked with a dot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    ordered = sorted(results["strategies"].items(), key=lambda kv: -kv[1]["aubc_mean"])
    colors = plt.get_cmap("tab10")
    for i, (name, r) in enumerate(ordered):
        x = np.asarray(r["labels"])
        m = np.asarray(r["mean_curve"])
        s = np.asarray(r["std_curve"])
        is_random = name == "random"
        color = "black" if is_random else colors(i % 10)
        label = f"{name} (AUBC {r['aubc_mean']:.3f} ± {r['aubc_std']:.3f})"
        ax.plot(
            x,
            m,
            color=color,
            lw=2 if not is_random else 1.6,
            ls="--" if is_random else "-",
            label=label,
        )
        ax.fill_between(x, m - s, m + s, color=color, alpha=0.12 if not is_random else 0.08)
        stops = [st["labels"] for st in r.get("stopping", []) if st]
        if stops:
            at = float(np.median(stops))
            ax.plot([at], [np.interp(at, x, m)], "o", color=color, ms=6, mec="white")
    best_name, best = ordered[0]
    fc = best.get("forecast")
    if fc and fc.get("params") and fc.get("more_labels"):
        from labelwise.loop._forecast import power_law

        last = best["labels"][-1]
        end = fc["labels_needed"] if fc["labels_needed"] else 2 * last
        end = min(end, 3 * last)
        xs = np.linspace(best["labels"][0], end, 200)
        ax.plot(
            xs,
            power_law(xs, *fc["params"]),
            ":",
            color="gray",
            lw=1.5,
            label=f"{best_name}: forecast to {fc['target']:g} ({fc['level']:.0%} interval)",
        )
        ax.axhline(fc["target"], color="gray", lw=0.8, ls="-.")
        if fc["labels_needed"]:
            lo = last + fc["low"]
            hi = last + fc["high"] if fc["high"] is not None else end
            ax.errorbar(
                [fc["labels_needed"]],
                [fc["target"]],
                fmt="s",
                color="gray",
                xerr=[[fc["labels_needed"] - lo], [max(hi - fc["labels_needed"], 0)]],
                capsize=4,
                ms=5,
            )
    title = f"{results['dataset']} · {results['model']} · batch {results['batch']}"
    ax.set_title(f"{title} · {len(results['seeds'])} seed(s)")
    ax.set_xlabel("labeled samples")
    ax.set_ylabel(f"test {results['metric']}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, title="dots: median stopping point", title_fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_project_curve(rounds: list[dict], path: str | Path, *, title: str = "") -> Path:
    """Write a PNG of a project's learning curve: evaluation accuracy per round with its band.

    The accuracy on the random evaluation set is drawn with its 95 % interval as a
    band; the cross-validated accuracy on the selected labels as a thin dashed
    secondary line (biased by the selection). Without an evaluation set only the CV
    line is drawn, and the title says the metric is biased.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labelwise.loop._evalset import NO_EVAL_NOTE

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ev = [r for r in rounds if r.get("metric") is not None]
    if ev:
        x = [r["n_labeled"] for r in ev]
        y = [r["metric"] for r in ev]
        lo = [r["metric_ci"][0] if r.get("metric_ci") else r["metric"] for r in ev]
        hi = [r["metric_ci"][1] if r.get("metric_ci") else r["metric"] for r in ev]
        ax.fill_between(x, lo, hi, color="C0", alpha=0.2, lw=0, label="95% interval")
        ax.plot(x, y, "o-", color="C0", lw=2, label="accuracy on the random evaluation set")
        for r, xi, yi in zip(ev, x, y, strict=True):
            ax.annotate(
                str(r["round"]),
                (xi, yi),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
            )
    cv = [r for r in rounds if r.get("cv_metric") is not None]
    if cv:
        ax.plot(
            [r["n_labeled"] for r in cv],
            [r["cv_metric"] for r in cv],
            "--",
            color="gray",
            lw=0.8,
            label="CV accuracy on the selected labels (biased)",
        )
    ax.set_xlabel("labels the model was fit on")
    ax.set_ylabel("accuracy")
    head = title or "project learning curve (numbers: rounds)"
    ax.set_title(head if ev else f"{head}\n{NO_EVAL_NOTE}", fontsize=10)
    ax.grid(alpha=0.3)
    if ev or cv:
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
