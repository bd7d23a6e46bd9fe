"""Small synthetic production data for the monitor tests: 3 classes, 4 features."""

import numpy as np
from sklearn.linear_model import LogisticRegression

CENTERS = np.array([[0.0, 0.0, 0, 0], [3.0, 0.0, 0, 0], [0.0, 3.0, 0, 0]])


def draw(rng, n, prior=(1 / 3, 1 / 3, 1 / 3)):
    y = rng.choice(3, size=n, p=prior)
    return CENTERS[y] + rng.normal(size=(n, 4)), y


class World:
    """A reference, a model fit on separate rows and calibration rows, all from one distribution."""

    def __init__(self, seed=0, n_ref=400):
        self.rng = np.random.default_rng(seed)
        Xt, yt = draw(self.rng, 300)
        self.model = LogisticRegression(max_iter=500).fit(Xt, yt)
        self.X_ref, self.y_ref = draw(self.rng, n_ref)

    def kwargs(self, X_batch):
        return {
            "proba_ref": self.model.predict_proba(self.X_ref),
            "proba_batch": self.model.predict_proba(X_batch),
            "proba_cal": self.model.predict_proba(self.X_ref),
            "y_cal": self.y_ref,
        }
