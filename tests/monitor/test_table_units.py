"""A table's columns are tested in the user's units: codes stay codes, reasons show real values."""

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from labelwise.embed import compute_features
from labelwise.io._samples import import_pool
from labelwise.monitor import monitor_project
from labelwise.store import Project


def _table(rng, n, prefix, plan_p, age_shift=0.0):
    return pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "age": rng.normal(40, 8, n).round(1) + age_shift,
            "plan": rng.choice(4, size=n, p=plan_p),  # an integer code: 4 plans
        }
    )


def test_integer_codes_get_chi_square_and_reasons_use_the_tables_units(tmp_path):
    rng = np.random.default_rng(0)
    pool = _table(rng, 600, "p", [0.4, 0.3, 0.2, 0.1])
    pool.to_csv(tmp_path / "pool.csv", index=False)
    batch = _table(rng, 300, "q", [0.1, 0.2, 0.3, 0.4], age_shift=30.0)
    batch.to_csv(tmp_path / "batch.csv", index=False)
    p = Project.init(tmp_path / "proj", classes=["a", "b"])
    import_pool(p, tmp_path / "pool.csv", id_column="id")
    compute_features(p)  # standardised: the stored codes are no longer integers

    report = monitor_project(p, tmp_path / "batch.csv", enqueue=3).report
    feats = {f["feature"]: f for f in report["features"]}
    assert feats["plan"]["test"] == "chi2" and feats["age"]["test"] == "ks"
    # the chi-square statistic of the raw plan counts, computed independently
    table = [np.bincount(pool["plan"], minlength=4), np.bincount(batch["plan"], minlength=4)]
    assert np.isclose(feats["plan"]["statistic"], chi2_contingency(table)[0], rtol=1e-6)
    # a pick's reason quotes its age in years (around 70), not a standardised value (about 4)
    reasons = [pk["reason"] for pk in report["picks"] if pk["reason"].startswith("feature_drift")]
    assert reasons, report["picks"]
    ages = [float(r.split("age = ")[1].split()[0]) for r in reasons if "age = " in r]
    assert ages and all(50 < a < 110 for a in ages), reasons
    p.close()
