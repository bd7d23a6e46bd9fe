import numpy as np
import pandas as pd
import pytest

T0 = pd.Timestamp("2024-05-01 09:00", tz="UTC")


def make_labels(
    annotator,
    samples,
    values,
    *,
    start=0.0,
    gaps=10.0,
    duration=np.nan,
    round=1,
    gold=False,
):
    """Rows of one annotator labelling ``samples`` in order, ``gaps`` seconds apart."""
    n = len(samples)
    gaps = np.broadcast_to(np.asarray(gaps, dtype=float), (n,)).copy()
    gaps[0] = 0.0
    seconds = start + np.cumsum(gaps)
    return pd.DataFrame(
        {
            "sample": list(samples),
            "annotator": annotator,
            "value": list(values),
            "created_at": [T0 + pd.Timedelta(seconds=float(s)) for s in seconds],
            "duration": np.broadcast_to(np.asarray(duration, dtype=float), (n,)),
            "round": round,
            "gold": gold,
        }
    )


@pytest.fixture
def labels():
    return make_labels
