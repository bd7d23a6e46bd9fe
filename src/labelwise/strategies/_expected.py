"""Model-change and error-reduction strategies: higher score = label this sample first.

``expected_gradient_length`` is a pure scorer over probabilities and features.
``expected_error_reduction`` needs the fitted model and the labeled data, because
it simulates "what would the model become if this sample got label y". It stays
tractable on large pools: only a pre-filtered set of candidates is simulated, the
future error is measured on a fixed random evaluation subsample, and logistic
regression models are refit with a dedicated warm-started solver instead of a
fit from scratch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse

from labelwise._validation import check_indices, check_proba
from labelwise.errors import EmptyPoolError, InvalidInputError, MissingRequirementError
from labelwise.strategies._selectors import top_positions
from labelwise.strategies._uncertainty import entropy, least_confidence, margin

__all__ = ["expected_gradient_length", "expected_error_reduction", "EERDetails"]

_ROW_CHUNK = 16_384  # rows per chunk when computing feature norms of a large pool


# --------------------------------------------------------------------------------------
# expected gradient length
# --------------------------------------------------------------------------------------


def _check_features(X, n_rows: int | None, name: str):
    """Return X as a float64 ndarray or CSR matrix after shape and finiteness checks."""
    if sparse.issparse(X):
        a = sparse.csr_matrix(X, dtype=np.float64)
        values = a.data
    else:
        a = np.asarray(X, dtype=np.float64)
        values = a
    if a.ndim != 2:
        raise InvalidInputError(
            f"{name} must have shape (n_samples, n_features), got an array of shape {a.shape}."
        )
    if n_rows is not None and a.shape[0] != n_rows:
        raise InvalidInputError(
            f"{name} has {a.shape[0]} rows but {n_rows} were expected; pass one row per sample."
        )
    if not np.isfinite(values).all():
        raise InvalidInputError(f"{name} contains NaN or inf values; impute or drop them first.")
    return a


def _squared_row_norms(X) -> np.ndarray:
    """Squared Euclidean norm of every row, in float64, chunked (no copy of X)."""
    if sparse.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel()
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], _ROW_CHUNK):
        block = np.asarray(X[start : start + _ROW_CHUNK], dtype=np.float64)
        out[start : start + block.shape[0]] = np.einsum("ij,ij->i", block, block)
    return out


def expected_gradient_length(proba, X, *, fit_intercept: bool = True) -> np.ndarray:
    """Expected gradient length ``sum_y p(y|x) * ||grad_theta loss(x, y)||``.

    Closed form for a linear softmax (multinomial logistic) model with weight
    matrix ``W`` of shape ``(n_classes, n_features [+ 1])``: the gradient of the
    cross-entropy of label ``y`` with respect to ``W`` is the outer product
    ``(p - e_y) x~^T`` with ``x~ = [x, 1]`` when there is an intercept, so its
    Frobenius norm is ``||p - e_y|| * ||x~||`` and::

        EGL(x) = ||x~|| * sum_y p_y * sqrt(||p||^2 - 2 p_y + 1)

    The sample whose label, whatever it turns out to be, would change the model
    most scores highest. Vectorised: O(n_samples * n_classes) memory beyond ``X``.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities of the current model; each row sums to 1.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Features the linear model was trained on, one row per row of ``proba``.
    fit_intercept : bool, default=True
        Whether the model has an intercept (adds a constant 1 feature to ``x``).

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        Non-negative; 0 for a one-hot (certain) prediction.

    Notes
    -----
    The norm is taken over the full softmax parametrisation (one weight vector per
    class). A binary scikit-learn ``LogisticRegression`` keeps a single weight
    vector; its gradient norm is ``|p_1 - y| * ||x~||``, which is the score here
    divided by ``sqrt(2)``: the ranking is the same.

    References
    ----------
    Settles, B., Craven, M. and Ray, S. (2008). Multiple-instance active learning.
    NeurIPS 20.
    Settles, B. (2009). Active Learning Literature Survey, §3.4.

    Examples
    --------
    >>> expected_gradient_length([[0.5, 0.5], [1.0, 0.0]], [[3.0, 4.0], [3.0, 4.0]],
    ...                          fit_intercept=False).round(4)
    array([3.5355, 0.    ])
    """
    p = np.clip(check_proba(proba), 0.0, 1.0)
    Xa = _check_features(X, p.shape[0], "X")
    sq = np.einsum("ij,ij->i", p, p)
    # ||p - e_y||^2 = ||p||^2 - 2 p_y + 1, one column per label y: O(n * C)
    grad_norms = np.sqrt(np.maximum(sq[:, None] - 2.0 * p + 1.0, 0.0))
    expected = np.einsum("ij,ij->i", p, grad_norms)
    x_sq = _squared_row_norms(Xa)
    if fit_intercept:
        x_sq += 1.0
    return expected * np.sqrt(x_sq)


# --------------------------------------------------------------------------------------
# expected error reduction
# --------------------------------------------------------------------------------------

_LOSSES = ("log", "zero_one")
_PREFILTERS = {
    "margin": margin,
    "entropy": entropy,
    "least_confidence": least_confidence,
    "random": None,
}
_REFITS = ("auto", "warm_start", "partial_fit", "clone")

#: The warm-started logistic solver keeps a dense (D, D) Hessian inverse with
#: D = n_outputs * (n_features + 1); above this size "auto" refits by clone + fit.
_MAX_WARM_PARAMS = 2048
#: Convergence: largest |gradient| of the per-sample-averaged objective.
_WARM_TOL = 1e-9
_WARM_MAX_ITER = 60
#: Entries of the largest temporary per chunk of (candidate, label) pairs.
_CHUNK_ENTRIES = 1 << 21


@dataclass(frozen=True)
class EERDetails:
    """What :func:`expected_error_reduction` computed, for inspection and provenance.

    Attributes
    ----------
    eval_indices : ndarray of int of shape (n_eval,)
        Pool rows of the evaluation subsample, ascending.
    proba : ndarray of shape (n_candidates, n_classes)
        Current ``p(y|x)`` of every returned candidate, columns in ``classes`` order.
    loss_given_label : ndarray of shape (n_candidates, n_classes)
        Mean evaluation loss after adding ``(x, y)``; NaN where the label was not
        simulated because ``p(y|x) = 0`` (it cannot change the expectation).
    expected_loss : ndarray of shape (n_candidates,)
        ``sum_y p(y|x) * loss_given_label[:, y]``.
    current_loss : float
        Mean evaluation loss of the current model.
    n_refits : int
        Number of (candidate, label) refits that were run.
    refit : str
        How the refits were done: ``"warm_start"``, ``"partial_fit"`` or ``"clone"``.
    """

    eval_indices: np.ndarray
    proba: np.ndarray
    loss_given_label: np.ndarray
    expected_loss: np.ndarray
    current_loss: float
    n_refits: int
    refit: str


def _mean_loss(P: np.ndarray, loss: str, axis: int = -1) -> np.ndarray:
    """Mean over rows of the self-estimated loss of probabilities P (classes on ``axis``)."""
    if loss == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0)
        per_row = -plogp.sum(axis=axis)
    else:
        per_row = 1.0 - P.max(axis=axis)
    return per_row.mean(axis=-1)


def _softmax(Z: np.ndarray, axis: int) -> np.ndarray:
    Z = Z - Z.max(axis=axis, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=axis, keepdims=True)
    return Z


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# ----------------------------------------------------------------------- the model view


class _ModelView:
    """Task-aligned probabilities and fresh refits for the kinds of model labelwise accepts.

    Accepted: a labelwise ``Classifier`` (or any object with ``classes`` and a
    task-aligned ``predict_proba``, such as ``CalibratedClassifier``), or a fitted
    scikit-learn classifier (then ``classes`` defaults to its ``classes_``).
    """

    def __init__(self, model, classes):
        from labelwise.models._sklearn import Classifier

        self.model = model
        self.wrapped = isinstance(model, Classifier)
        self.constant = False
        if self.wrapped:
            if not hasattr(model, "constant_"):
                raise MissingRequirementError(
                    "expected_error_reduction needs a fitted model; call model.fit(X, y) first."
                )
            task = model.classes if classes is None else np.asarray(classes)
            self.constant = model.constant_ is not None
            self.estimator = None if self.constant else model.estimator
        elif hasattr(model, "classes") and not hasattr(model, "classes_"):
            # a labelwise-style wrapper (e.g. CalibratedClassifier): task-aligned already
            task = np.asarray(model.classes) if classes is None else np.asarray(classes)
            self.estimator = None
        else:
            if not hasattr(model, "classes_"):
                raise MissingRequirementError(
                    "expected_error_reduction needs a fitted classifier (no classes_ found); "
                    "fit it on the labeled rows first."
                )
            task = np.asarray(model.classes_) if classes is None else np.asarray(classes)
            self.estimator = model
        self.classes = np.asarray(task)
        if self.classes.ndim != 1 or np.unique(self.classes).size != self.classes.size:
            raise InvalidInputError("classes must be a 1-D list of distinct class labels.")
        if self.classes.size < 2:
            raise InvalidInputError(
                f"expected_error_reduction needs at least 2 classes, got {self.classes.size}."
            )
        self.columns = None
        if self.estimator is not None:
            self.columns = _columns(self.estimator.classes_, self.classes)

    # -- current model -------------------------------------------------------------------
    def proba(self, X) -> np.ndarray:
        if self.wrapped or self.estimator is None:
            p = np.asarray(self.model.predict_proba(X), dtype=np.float64)
            if p.shape != (X.shape[0], self.classes.size):
                raise InvalidInputError(
                    f"the model's predict_proba returned shape {p.shape}; expected "
                    f"({X.shape[0]}, {self.classes.size}), one column per class of the task."
                )
            return p
        return _aligned_proba(self.estimator, X, self.columns, self.classes.size)

    # -- simulated refits ----------------------------------------------------------------
    def fresh(self):
        """An unfitted copy that fits and predicts task-aligned probabilities."""
        from sklearn.base import clone

        from labelwise.models._sklearn import Classifier

        if self.wrapped:
            return Classifier(clone(self.model.estimator), classes=self.classes)
        if self.estimator is not None:
            return Classifier(clone(self.estimator), classes=self.classes)
        return copy.deepcopy(self.model)

    def updated(self, x, label):
        """A copy of the fitted estimator after ``partial_fit`` on one labeled sample."""
        est = self.estimator
        if est is None or not hasattr(est, "partial_fit"):
            raise InvalidInputError(
                "refit='partial_fit' needs an estimator with partial_fit (e.g. SGDClassifier, "
                "MultinomialNB); use refit='clone' for this model."
            )
        new = copy.deepcopy(est)
        new.partial_fit(x, np.asarray([label]))
        return new


def _columns(model_classes, task_classes) -> np.ndarray:
    pos = {c: i for i, c in enumerate(np.asarray(task_classes).tolist())}
    unknown = [c for c in np.asarray(model_classes).tolist() if c not in pos]
    if unknown:
        raise InvalidInputError(
            f"the model knows classes {unknown[:5]} that are not in classes; pass the task's "
            "full class list."
        )
    return np.array([pos[c] for c in np.asarray(model_classes).tolist()], dtype=np.intp)


def _aligned_proba(est, X, columns: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities of a fitted sklearn classifier, one column per task class."""
    if hasattr(est, "predict_proba") and getattr(est, "probability", None) is not False:
        p = np.asarray(est.predict_proba(X), dtype=np.float64)
    else:
        d = np.asarray(est.decision_function(X), dtype=np.float64)
        if d.ndim == 1:
            p1 = _sigmoid(d)
            p = np.column_stack([1.0 - p1, p1])
        else:
            p = _softmax(d, axis=1)
    out = np.zeros((p.shape[0], n_classes))
    out[:, columns] = p
    return out


# ------------------------------------------------- warm-started logistic regression refits


def _logistic_setup(est):
    """(C, fit_intercept) when ``est`` is an L2 (multinomial or binary) LogisticRegression."""
    from sklearn.linear_model import LogisticRegression

    if type(est) is not LogisticRegression or not hasattr(est, "coef_"):
        return None
    params = est.get_params()
    if params.get("class_weight") is not None or params.get("solver") == "liblinear":
        return None
    if params.get("multi_class", "auto") == "ovr" and len(est.classes_) > 2:
        return None
    penalty = params.get("penalty", "l2")
    if penalty == "deprecated":  # scikit-learn >= 1.8: the penalty follows l1_ratio
        penalty = "l2" if params.get("l1_ratio") in (0, 0.0, None) else "l1"
    C = float(params.get("C", 1.0))
    if penalty != "l2" or not np.isfinite(C) or C <= 0:
        return None
    return C, bool(params.get("fit_intercept", True))


def _augment(X, fit_intercept: bool) -> np.ndarray:
    a = X.toarray() if sparse.issparse(X) else np.asarray(X, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if fit_intercept:
        a = np.hstack([a, np.ones((a.shape[0], 1))])
    return np.ascontiguousarray(a)


class _WarmLogistic:
    """Refit an L2 logistic regression on labeled + one sample, for many samples at once.

    Minimises scikit-learn's objective ``sum_i loss_i + ||coef||^2 / (2 C)`` (the
    intercept unpenalised), so the solution equals a fit from scratch. Every
    (candidate, label) problem starts at the current coefficients ``W0`` and takes
    quasi-Newton steps ``W <- W - M_x^{-1} grad`` with the fixed matrix
    ``M_x = H0 + h_x``: ``H0`` the Hessian of the labeled objective at ``W0``
    (inverted once) and ``h_x`` the candidate's own rank-K curvature at ``W0``
    (Woodbury, K x K per candidate). Steps are vectorised over all problems; the
    iteration stops when the averaged gradient is below ``_WARM_TOL``. Problems that
    have not converged after ``_WARM_MAX_ITER`` steps are finished by L-BFGS.
    """

    def __init__(self, est, C: float, fit_intercept: bool, X_lab, y_lab):
        classes = np.asarray(est.classes_)
        self.binary = classes.size == 2
        self.n_labels = classes.size
        self.K = 1 if self.binary else classes.size
        self.fit_intercept = fit_intercept
        self.reg = 1.0 / C
        coef = np.asarray(est.coef_, dtype=np.float64).reshape(self.K, -1)
        if fit_intercept:
            W0 = np.hstack([coef, np.asarray(est.intercept_, dtype=np.float64).reshape(-1, 1)])
        else:
            W0 = coef
        self.W0 = np.ascontiguousarray(W0)
        self.dp = W0.shape[1]
        self.D = self.K * self.dp
        self.penalised = np.ones(self.dp)
        if fit_intercept:
            self.penalised[-1] = 0.0
        self.X = _augment(X_lab, fit_intercept)
        self.y = _columns(y_lab, classes)  # label index of every labeled row
        if self.binary:
            self.Y = self.y[None, :].astype(np.float64)  # (1, n_lab): 1 = classes_[1]
        else:
            self.Y = (np.arange(self.K)[:, None] == self.y[None, :]).astype(np.float64)
        self.n = self.X.shape[0] + 1
        self.Z0 = self.X @ self.W0.T  # (n_lab, K)
        self.Hinv = self._hessian_inverse()

    # -- the model family ----------------------------------------------------------------
    def _residual(self, Z: np.ndarray, target: np.ndarray) -> np.ndarray:
        """dloss/dz for logits Z (outputs on axis 1) and a 0/1 target broadcast to Z."""
        if self.binary:
            return _sigmoid(Z) - target
        return _softmax(Z.copy(), axis=1) - target

    def _curvature_factor(self, Z: np.ndarray) -> np.ndarray:
        """S with S S^T = d2loss/dz2 at logits Z of shape (m, K); returns (m, K, K)."""
        if self.binary:
            q = _sigmoid(Z)
            return np.sqrt(q * (1.0 - q))[:, :, None]
        p = _softmax(Z.copy(), axis=1)
        sp = np.sqrt(p)
        S = -p[:, :, None] * sp[:, None, :]
        idx = np.arange(self.K)
        S[:, idx, idx] += sp
        return S

    def _hessian_inverse(self) -> np.ndarray:
        K, dp, X = self.K, self.dp, self.X
        S = self._curvature_factor(self.Z0)  # (n, K, K)
        A = S @ S.transpose(0, 2, 1)  # (n, K, K) curvature of each labeled row
        H = np.empty((K, dp, K * dp))
        for k in range(K):
            weighted = (A[:, k, :, None] * X[:, None, :]).reshape(X.shape[0], K * dp)
            H[k] = X.T @ weighted
        H = H.reshape(self.D, self.D)
        H[np.diag_indices(self.D)] += self.reg * np.tile(self.penalised, K)
        if self.fit_intercept and not self.binary:
            # the intercepts are only defined up to a common shift; every gradient is
            # orthogonal to that direction, so pin it without changing any step
            u = np.zeros((K, dp))
            u[:, -1] = 1.0 / np.sqrt(K)
            u = u.ravel()
            H += np.outer(u, u) * max(np.abs(np.diag(H)).max(), 1.0)
        try:
            c = linalg.cho_factor(H, lower=True, check_finite=False)
            Hinv = linalg.cho_solve(c, np.eye(self.D), check_finite=False)
        except linalg.LinAlgError:
            Hinv = np.linalg.pinv(H, hermitian=True)
        return 0.5 * (Hinv + Hinv.T)

    # -- objective -----------------------------------------------------------------------
    def _gradient(self, W, xs, labels):
        """Gradient of the objective for a batch; W (B, K, dp), xs (B, dp), labels (B,)."""
        B = W.shape[0]
        n_lab = self.X.shape[0]
        Zl = (W.reshape(B * self.K, self.dp) @ self.X.T).reshape(B, self.K, n_lab)
        Rl = self._residual(Zl, self.Y)
        G = (Rl.reshape(B * self.K, n_lab) @ self.X).reshape(B, self.K, self.dp)
        zx = np.einsum("bkd,bd->bk", W, xs)
        if self.binary:
            target = labels[:, None].astype(np.float64)
        else:
            target = (labels[:, None] == np.arange(self.K)).astype(np.float64)
        G += self._residual(zx, target)[:, :, None] * xs[:, None, :]
        G += self.reg * W * self.penalised
        return G

    def _objective(self, w: np.ndarray, x: np.ndarray, label: int):
        """Objective and gradient of one problem (for the L-BFGS fallback)."""
        W = w.reshape(1, self.K, self.dp)
        Z = np.vstack([self.X, x[None]]) @ W[0].T
        ys = np.append(self.y, label)
        if self.binary:
            z = Z[:, 0]
            f = np.logaddexp(0.0, z).sum() - z[ys == 1].sum()
        else:
            zmax = Z.max(axis=1, keepdims=True)
            lse = (zmax + np.log(np.exp(Z - zmax).sum(axis=1, keepdims=True))).ravel()
            f = (lse - Z[np.arange(Z.shape[0]), ys]).sum()
        f += 0.5 * self.reg * (W[0] ** 2 * self.penalised).sum()
        g = self._gradient(W, x[None], np.array([label]))
        return f / self.n, g.ravel() / self.n

    # -- solve ---------------------------------------------------------------------------
    def solve(self, xs: np.ndarray) -> np.ndarray:
        """Refit for every candidate row of ``xs`` (augmented) and every label.

        Returns coefficients of shape (n_candidates, n_labels, K, dp).
        """
        from scipy.optimize import minimize

        m = xs.shape[0]
        L, K, dp = self.n_labels, self.K, self.dp
        # per-candidate Woodbury pieces, shared by its labels
        S = self._curvature_factor(xs @ self.W0.T)  # (m, K, K)
        # T = Hinv (I ⊗ x): column k is Hinv applied to x placed in output block k
        T = (self.Hinv.reshape(self.D * K, dp) @ xs.T).reshape(self.D, K, m).transpose(2, 0, 1)
        Gx = np.einsum("mkdj,md->mkj", T.reshape(m, K, dp, K), xs)  # (I ⊗ x)^T Hinv (I ⊗ x)
        Q = np.eye(K) + S.transpose(0, 2, 1) @ Gx @ S
        Qinv = np.linalg.inv(Q)
        TS = T @ S  # (m, D, K) = Hinv U
        # problems: candidate-major, one per (candidate, label)
        cand = np.repeat(np.arange(m), L)
        labels = np.tile(np.arange(L), m)
        W = np.broadcast_to(self.W0, (m * L, K, dp)).copy()
        active = np.arange(m * L)
        for _ in range(_WARM_MAX_ITER):
            c = cand[active]
            G = self._gradient(W[active], xs[c], labels[active]).reshape(-1, self.D)
            done = np.abs(G).max(axis=1) <= _WARM_TOL * self.n
            if done.all():
                active = active[:0]
                break
            active, G, c = active[~done], G[~done], c[~done]
            v = G @ self.Hinv  # (B, D)
            a = np.einsum("bkd,bd->bk", v.reshape(-1, K, dp), xs[c])
            a = np.einsum("bkj,bk->bj", S[c], a)  # U^T Hinv g
            w = np.einsum("bjk,bk->bj", Qinv[c], a)
            v -= np.einsum("bDk,bk->bD", TS[c], w)
            W[active] -= v.reshape(-1, K, dp)
        for j in active.tolist():  # rare: finish slow problems with L-BFGS
            res = minimize(
                self._objective, W[j].ravel(), args=(xs[cand[j]], int(labels[j])), jac=True,
                method="L-BFGS-B",
                options={"gtol": _WARM_TOL, "ftol": 1e-15, "maxiter": 10_000},
            )
            W[j] = res.x.reshape(K, dp)
        return W.reshape(m, L, K, dp)

    def eval_proba(self, W: np.ndarray, X_eval: np.ndarray) -> np.ndarray:
        """Probabilities over the model's labels; W (B, K, dp) -> (B, n_labels, n_eval)."""
        B = W.shape[0]
        Z = (W.reshape(B * self.K, self.dp) @ X_eval.T).reshape(B, self.K, -1)
        if self.binary:
            q = _sigmoid(Z[:, 0])
            return np.stack([1.0 - q, q], axis=1)
        return _softmax(Z, axis=1)


# ----------------------------------------------------------------------------- the strategy


def expected_error_reduction(
    model,
    X_labeled,
    y_labeled,
    X_pool,
    *,
    loss: str = "log",
    candidates=None,
    n_candidates: int = 200,
    n_eval: int = 2000,
    prefilter: str = "margin",
    proba=None,
    classes=None,
    refit: str = "auto",
    random_state=None,
    return_details: bool = False,
):
    """Expected error reduction: how much labeling ``x`` should lower the future error.

    For each candidate ``x`` and each label ``y``, the model is refit on the labeled
    rows plus ``(x, y)`` and its loss on an evaluation sample of the pool is
    measured; the candidate's score is the current loss minus the expectation of
    that loss under the current model's ``p(y|x)``::

        score(x) = L(current) - sum_y p(y|x) * L(model refit on labeled + (x, y))

    ``L`` is the mean *self-estimated* loss over the evaluation rows (the refit
    model's own probabilities stand in for the unknown labels):

    - ``loss="log"``: entropy ``-sum_k q_k log q_k`` (expected log-loss);
    - ``loss="zero_one"``: ``1 - max_k q_k`` (expected 0/1 loss).

    Higher = a larger expected reduction of the future error = label first. The
    score is ``-expected loss`` shifted by a constant, so it ranks exactly like it.

    Cost does not grow with the pool beyond one ``predict_proba`` over the
    candidates for the pre-filter: (a) only the top ``n_candidates`` by an
    uncertainty score are simulated, (b) the loss is measured on a fixed random
    subsample of ``n_eval`` candidate rows, (c) refits are incremental where the
    model allows (see ``refit``). Exactly ``n_candidates * n_classes`` refits for a
    model that gives every label a non-zero probability.

    Parameters
    ----------
    model : labelwise Classifier or fitted scikit-learn classifier
        The current model, fitted on ``(X_labeled, y_labeled)``. Never modified.
        A ``Classifier`` (see :func:`labelwise.models.make_model`) gives
        probabilities over every class of the task; any other object with a
        ``classes`` attribute, task-aligned ``predict_proba`` and ``fit`` (e.g.
        ``CalibratedClassifier``) is refit from a deep copy.
    X_labeled : {array-like, sparse matrix} of shape (n_labeled, n_features)
        The rows the model was trained on.
    y_labeled : array-like of shape (n_labeled,)
        Their labels.
    X_pool : {array-like, sparse matrix} of shape (n_pool, n_features)
        The pool; ``candidates`` index into it.
    loss : {"log", "zero_one"}, default="log"
    candidates : array-like of int, default=None
        Unlabeled pool rows to consider (and to draw the evaluation sample from);
        default every row of ``X_pool``.
    n_candidates : int, default=200
        How many candidates survive the pre-filter and are simulated.
    n_eval : int, default=2000
        Size of the evaluation subsample (all candidates when there are fewer).
    prefilter : {"margin", "entropy", "least_confidence", "random"}, default="margin"
        Uncertainty score that picks the ``n_candidates`` simulated candidates.
    proba : array-like of shape (len(candidates), n_classes), default=None
        The current model's probabilities for ``candidates`` when already computed
        (saves the pre-filter's ``predict_proba``).
    classes : array-like, default=None
        Every class of the task, in column order; default ``model.classes`` (a
        labelwise model) or ``model.classes_``. Classes absent from the labeled set
        get probability 0 and are never simulated.
    refit : {"auto", "warm_start", "partial_fit", "clone"}, default="auto"
        How the model is refit on labeled + ``(x, y)``:

        - ``"warm_start"``: an L2 ``LogisticRegression`` (binary or multinomial,
          no ``class_weight``, not liblinear) is refit by a dedicated solver that
          starts at the current coefficients and takes quasi-Newton steps with the
          current Hessian, vectorised over every (candidate, label) pair. It
          minimises scikit-learn's own objective to a gradient of 1e-9, so the result
          is the fit from scratch, not an approximation of it (the sample weights of
          the original fit are assumed to be 1);
        - ``"partial_fit"``: a copy of the fitted estimator gets one ``partial_fit``
          call with ``(x, y)``: exact for count-based models (naive Bayes), a single
          stochastic step (an approximation) for SGD or MLP models;
        - ``"clone"``: a fresh copy is fit from scratch on labeled + ``(x, y)`` (exact,
          the slowest);
        - ``"auto"``: ``"warm_start"`` where it applies and the model has at most
          2048 parameters, otherwise ``"clone"``.
    random_state : int, numpy.random.Generator or None
        Drives the evaluation subsample and tie-breaking; the same seed gives the
        same result.
    return_details : bool, default=False
        Also return an :class:`EERDetails`.

    Returns
    -------
    candidate_indices : ndarray of int of shape (min(n_candidates, n_available),)
        Pool rows that were simulated, ascending.
    scores : ndarray of shape (min(n_candidates, n_available),)
        Expected error reduction of each, aligned with ``candidate_indices``.
    details : EERDetails
        Only when ``return_details=True``.

    References
    ----------
    Roy, N. and McCallum, A. (2001). Toward optimal active learning through Monte
    Carlo estimation of error reduction. ICML, 441-448.
    Settles, B. (2009). Active Learning Literature Survey, §3.5.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> model = LogisticRegression().fit(X[:20], y[:20])
    >>> idx, scores = expected_error_reduction(
    ...     model, X[:20], y[:20], X, candidates=np.arange(20, 300),
    ...     n_candidates=10, n_eval=100, random_state=0)
    >>> idx.shape, scores.shape
    ((10,), (10,))
    >>> bool(np.isfinite(scores).all())
    True
    """
    if loss not in _LOSSES:
        raise InvalidInputError(f"loss must be one of {list(_LOSSES)}, got {loss!r}.")
    if prefilter not in _PREFILTERS:
        raise InvalidInputError(
            f"prefilter must be one of {sorted(_PREFILTERS)}, got {prefilter!r}."
        )
    if refit not in _REFITS:
        raise InvalidInputError(f"refit must be one of {list(_REFITS)}, got {refit!r}.")
    n_candidates = _positive_int(n_candidates, "n_candidates")
    n_eval = _positive_int(n_eval, "n_eval")
    rng = np.random.default_rng(random_state)

    view = _ModelView(model, classes)
    Xp = _check_pool(X_pool)
    n_pool = Xp.shape[0]
    cand = np.arange(n_pool) if candidates is None else check_indices(
        candidates, n_pool, name="candidates")
    if cand.size == 0:
        raise EmptyPoolError("The pool is empty: there are no unlabeled candidates to select from.")
    y_lab = np.asarray(y_labeled)
    if y_lab.ndim != 1:
        raise InvalidInputError(f"y_labeled must be 1-D, got shape {y_lab.shape}.")
    X_lab = _check_features(X_labeled, y_lab.shape[0], "X_labeled")
    if X_lab.shape[1] != Xp.shape[1]:
        raise InvalidInputError(
            f"X_labeled has {X_lab.shape[1]} features but X_pool has {Xp.shape[1]}."
        )
    _columns(np.unique(y_lab), view.classes)  # every label must be a class of the task

    # (a) pre-filter: the only O(n_candidates) model call
    if proba is None:
        P = view.proba(Xp[cand])
    else:
        P = check_proba(proba)
        if P.shape != (cand.size, view.classes.size):
            raise InvalidInputError(
                f"proba has shape {P.shape}; expected ({cand.size}, {view.classes.size}): one "
                "row per candidate, one column per class."
            )
    if prefilter == "random":
        pre = rng.random(cand.size)
    else:
        pre = _PREFILTERS[prefilter](P)
    chosen = np.sort(top_positions(pre, n_candidates, rng))
    # (b) a fixed evaluation subsample of the candidates
    eval_pos = np.sort(rng.choice(cand.size, size=min(n_eval, cand.size), replace=False))
    eval_idx = cand[eval_pos]
    current = float(_mean_loss(P[eval_pos], loss))

    Pc = np.clip(P[chosen], 0.0, 1.0)
    m, C = Pc.shape
    losses = np.full((m, C), np.nan)
    if view.constant:  # a one-class model stays one-class whatever is added: nothing to gain
        method, n_refits = "clone", 0
        losses[Pc > 0] = current
    else:
        method = _choose_refit(view, refit)
        X_cand = Xp[cand[chosen]]
        X_eval = Xp[eval_idx]
        if method == "warm_start":
            n_refits = _warm_start_losses(view, X_lab, y_lab, X_cand, X_eval, loss, losses)
        else:
            n_refits = _generic_losses(
                view, method, X_lab, y_lab, X_cand, X_eval, Pc, loss, losses
            )
    expected = np.where(Pc > 0, Pc * np.nan_to_num(losses), 0.0).sum(axis=1)
    scores = current - expected
    out_idx = cand[chosen]
    if not return_details:
        return out_idx, scores
    details = EERDetails(
        eval_indices=eval_idx, proba=Pc, loss_given_label=losses, expected_loss=expected,
        current_loss=current, n_refits=int(n_refits), refit=method,
    )
    return out_idx, scores, details


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _check_pool(X):
    if sparse.issparse(X):
        return _check_features(X, None, "X_pool")
    a = np.asarray(X)
    if a.ndim != 2:
        raise InvalidInputError(
            f"X_pool must have shape (n_samples, n_features), got an array of shape {a.shape}."
        )
    return a  # finiteness is checked on the rows actually used


def _choose_refit(view: _ModelView, refit: str) -> str:
    setup = None if view.estimator is None else _logistic_setup(view.estimator)
    if refit == "warm_start":
        if setup is None:
            raise InvalidInputError(
                "refit='warm_start' needs a fitted L2 LogisticRegression (no class_weight, "
                "not liblinear); use refit='clone' or 'partial_fit' for this model."
            )
        return "warm_start"
    if refit == "auto":
        if setup is not None:
            k = 1 if len(view.estimator.classes_) == 2 else len(view.estimator.classes_)
            n_params = k * (view.estimator.coef_.shape[1] + int(setup[1]))
            if n_params <= _MAX_WARM_PARAMS:
                return "warm_start"
        return "clone"
    return refit


def _warm_start_losses(view, X_lab, y_lab, X_cand, X_eval, loss, out) -> int:
    est = view.estimator
    C_reg, fit_intercept = _logistic_setup(est)
    solver = _WarmLogistic(est, C_reg, fit_intercept, X_lab, y_lab)
    xs = _augment(_check_features(X_cand, None, "X_pool"), fit_intercept)
    xe = _augment(_check_features(X_eval, None, "X_pool"), fit_intercept)
    L = solver.n_labels
    per_problem = L * solver.K * max(solver.X.shape[0], xe.shape[0], solver.D)
    chunk = max(1, _CHUNK_ENTRIES // per_problem)
    cols = view.columns
    for start in range(0, xs.shape[0], chunk):
        W = solver.solve(xs[start : start + chunk])  # (m, L, K, dp)
        mc = W.shape[0]
        Q = solver.eval_proba(W.reshape(mc * L, solver.K, solver.dp), xe)  # (B, L, n_eval)
        out[start : start + mc, cols] = _mean_loss(Q, loss, axis=1).reshape(mc, L)
    return xs.shape[0] * L


def _generic_losses(view, method, X_lab, y_lab, X_cand, X_eval, Pc, loss, out) -> int:
    X_cand = _check_features(X_cand, None, "X_pool")
    X_eval = _check_features(X_eval, None, "X_pool")
    stack = sparse.vstack if sparse.issparse(X_lab) else np.vstack
    if sparse.issparse(X_lab) and not sparse.issparse(X_cand):
        X_cand = sparse.csr_matrix(X_cand)
    elif not sparse.issparse(X_lab) and sparse.issparse(X_cand):
        X_cand = X_cand.toarray()
    n_refits = 0
    for i in range(Pc.shape[0]):
        x = X_cand[i : i + 1]
        for c in np.flatnonzero(Pc[i] > 0).tolist():
            label = view.classes[c]
            if method == "partial_fit":
                new = view.updated(x, label)
                Q = _aligned_proba(new, X_eval, view.columns, view.classes.size)
            else:
                new = view.fresh().fit(stack([X_lab, x]), np.append(y_lab, label))
                Q = np.asarray(new.predict_proba(X_eval), dtype=np.float64)
            out[i, c] = _mean_loss(Q, loss)
            n_refits += 1
    return n_refits
