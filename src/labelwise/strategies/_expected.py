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
from threadpoolctl import threadpool_limits

from labelwise._validation import check_indices, check_proba
from labelwise.errors import EmptyPoolError, InvalidInputError, MissingRequirementError
from labelwise.strategies._selectors import top_positions
from labelwise.strategies._uncertainty import entropy, least_confidence, margin

__all__ = ["expected_gradient_length", "expected_error_reduction", "EERDetails"]

_ROW_CHUNK = 16_384  # rows per chunk when streaming over a large pool


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
_WARM_TOL = 1e-7
_WARM_MAX_ITER = 60
_HISTORY = 6  # L-BFGS memory
#: Entries of the largest temporary per chunk of (candidate, label) pairs.
_CHUNK_ENTRIES = 1 << 23


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
        How the refits were done: ``"warm_start"``, ``"partial_fit"`` or ``"clone"``;
        ``"none"`` for a one-class model (nothing to simulate, every score is 0).
    """

    eval_indices: np.ndarray
    proba: np.ndarray
    loss_given_label: np.ndarray
    expected_loss: np.ndarray
    current_loss: float
    n_refits: int
    refit: str


def _mean_loss(P: np.ndarray, loss: str) -> float:
    """Mean over rows of the self-estimated loss of probabilities P (n_rows, n_classes)."""
    if loss == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0)
        per_row = -plogp.sum(axis=1)
    else:
        per_row = 1.0 - P.max(axis=1)
    return float(per_row.mean())


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
            fitted = getattr(self.estimator, "classes_", None)
            if fitted is None and self.wrapped:  # a duck-typed model: the wrapper knows
                fitted = model.classes[model.columns_]
            self.columns = _columns(fitted, self.classes)

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
        from labelwise.models._sklearn import Classifier, clone_model

        if self.wrapped:
            return Classifier(clone_model(self.model.estimator), classes=self.classes)
        if self.estimator is not None:
            return Classifier(clone_model(self.estimator), classes=self.classes)
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


def _columns(model_classes, task_classes, what: str = "the model knows classes") -> np.ndarray:
    """Position of each of ``model_classes`` among ``task_classes``."""
    pos = {c: i for i, c in enumerate(np.asarray(task_classes).tolist())}
    unknown = [c for c in np.asarray(model_classes).tolist() if c not in pos]
    if unknown:
        raise InvalidInputError(
            f"{what} {unknown[:5]} that are not in classes; pass the task's full class list."
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
    intercept unpenalised), so the solution is the fit from scratch. Every
    (candidate, label) problem starts at the current coefficients ``W0`` and runs
    L-BFGS whose initial inverse Hessian is ``M^{-1}``, ``M = H0 + U U^T``: ``H0``
    the Hessian of the labeled objective at ``W0`` (inverted once, shared) and
    ``U U^T`` the added sample's own curvature at the current iterate (Woodbury:
    one K x K solve per problem). All problems advance together, vectorised; a
    problem leaves the batch once its per-sample gradient is below ``_WARM_TOL``.
    The rare problem still running after ``_WARM_MAX_ITER`` steps is finished by
    scipy's L-BFGS-B.
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
        y = _columns(y_lab, classes)  # label index of every labeled row
        if self.binary:
            self.Y = y[None, :].astype(np.float64)  # (1, n_lab): 1 = classes_[1]
        else:
            self.Y = (np.arange(self.K)[:, None] == y[None, :]).astype(np.float64)
        self.n = self.X.shape[0] + 1
        self.Hinv = self._hessian_inverse()
        self.n_fallback_ = 0

    # -- the model family ----------------------------------------------------------------
    def _curvature_factor(self, Z: np.ndarray) -> np.ndarray:
        """S with S S^T = d2loss/dz2 at logits Z of shape (m, K); returns (m, K, K)."""
        if self.binary:
            q = _sigmoid(Z)
            return np.sqrt(q * (1.0 - q))[:, :, None]
        p = _softmax(Z.copy(), axis=1)
        sp = np.sqrt(p)
        S = -p[:, :, None] * sp[:, None, :]  # diag(sqrt p) - p sqrt(p)^T
        idx = np.arange(self.K)
        S[:, idx, idx] += sp
        return S

    def _hessian_inverse(self) -> np.ndarray:
        K, dp, X = self.K, self.dp, self.X
        S = self._curvature_factor(X @ self.W0.T)  # (n, K, K)
        A = S @ S.transpose(0, 2, 1)  # curvature of each labeled row
        H = np.empty((K, dp, K * dp))
        for k in range(K):
            H[k] = X.T @ (A[:, k, :, None] * X[:, None, :]).reshape(X.shape[0], K * dp)
        H = H.reshape(self.D, self.D)
        H[np.diag_indices(self.D)] += self.reg * np.tile(self.penalised, K)
        if self.fit_intercept and not self.binary:
            # the intercepts are only defined up to a common shift; every gradient and
            # step is orthogonal to that direction, so pin it without changing any step
            u = np.zeros((K, dp))
            u[:, -1] = 1.0 / np.sqrt(K)
            u = u.ravel()
            H += np.outer(u, u) * max(np.abs(np.diag(H)).max(), 1.0)
        try:
            Hinv = linalg.cho_solve(
                linalg.cho_factor(H, lower=True, check_finite=False),
                np.eye(self.D),
                check_finite=False,
            )
        except linalg.LinAlgError:
            Hinv = np.linalg.pinv(H, hermitian=True)
        return np.ascontiguousarray(0.5 * (Hinv + Hinv.T))

    def _value_and_gradient(self, W, xs, labels):
        """Objective (B,), gradient (B, D) and added-sample logits (B, K) for a batch.

        ``W`` (B, D): coefficients of each problem; ``xs`` (B, dp): its added sample;
        ``labels`` (B,): the label index given to that sample.
        """
        B, K, dp = W.shape[0], self.K, self.dp
        n_lab = self.X.shape[0]
        W3 = W.reshape(B, K, dp)
        Zl = (W.reshape(B * K, dp) @ self.X.T).reshape(B, K, n_lab)
        zx = np.einsum("bkd,bd->bk", W3, xs)
        if self.binary:
            tx = labels[:, None].astype(np.float64)
            f = (np.logaddexp(0.0, Zl[:, 0]) - Zl[:, 0] * self.Y).sum(axis=1)
            f += (np.logaddexp(0.0, zx) - zx * tx)[:, 0]
            Rl = _sigmoid(Zl) - self.Y
            rx = _sigmoid(zx) - tx
        else:
            tx = (labels[:, None] == np.arange(K)).astype(np.float64)
            f = -np.einsum("bkn,kn->b", Zl, self.Y) - (zx * tx).sum(axis=1)
            Rl, lse = _softmax_lse(Zl)
            f += lse.sum(axis=1)
            rx, lse = _softmax_lse(zx)
            f += lse
            Rl -= self.Y
            rx -= tx
        Wp = W3 * self.penalised
        f += 0.5 * self.reg * np.einsum("bkd,bkd->b", Wp, Wp)
        G = (Rl.reshape(B * K, n_lab) @ self.X).reshape(B, K, dp)
        G += rx[:, :, None] * xs[:, None, :]
        G += self.reg * Wp
        return f, G.reshape(B, self.D), zx

    def _objective(self, w: np.ndarray, x: np.ndarray, label: int):
        """Objective and gradient of one problem, averaged per sample (L-BFGS fallback)."""
        f, G, _ = self._value_and_gradient(w[None], x[None], np.array([label]))
        return float(f[0]) / self.n, G[0] / self.n

    # -- solve ---------------------------------------------------------------------------
    def solve(self, xs: np.ndarray) -> np.ndarray:
        """Refit for every candidate row of ``xs`` (augmented) and every label.

        Returns coefficients of shape (n_candidates * n_labels, D), candidate-major.
        """
        from scipy.optimize import minimize

        m = xs.shape[0]
        L, K, dp, D, h = self.n_labels, self.K, self.dp, self.D, _HISTORY
        # T = Hinv (I ⊗ x): column k is Hinv applied to x placed in output block k
        T = (self.Hinv.reshape(D * K, dp) @ xs.T).reshape(D, K, m).transpose(2, 0, 1)
        Gx = np.einsum("mkdj,md->mkj", T.reshape(m, K, dp, K), xs)  # (I ⊗ x)^T Hinv (I ⊗ x)
        out = np.empty((m * L, D))
        # per-problem state, compacted whenever problems converge
        ids = np.arange(m * L)
        cand = ids // L
        labels = ids % L
        x_b, T_b, Gx_b = xs[cand], T[cand], Gx[cand]
        W = np.broadcast_to(self.W0.ravel(), (m * L, D)).copy()
        f, G, zx = self._value_and_gradient(W, x_b, labels)
        s_hist = np.zeros((h, m * L, D))
        y_hist = np.zeros((h, m * L, D))
        rho = np.zeros((h, m * L))
        for it in range(_WARM_MAX_ITER):
            done = np.abs(G).max(axis=1) <= _WARM_TOL * self.n
            if done.any():
                out[ids[done]] = W[done]
                keep = ~done
                ids, labels, x_b = ids[keep], labels[keep], x_b[keep]
                T_b, Gx_b = T_b[keep], Gx_b[keep]
                W, f, G, zx = W[keep], f[keep], G[keep], zx[keep]
                s_hist, y_hist, rho = s_hist[:, keep], y_hist[:, keep], rho[:, keep]
            if ids.size == 0:
                break
            # two-loop recursion, newest pair first
            slots = [(it - 1 - j) % h for j in range(min(it, h))]
            q = G.copy()
            alpha = np.zeros((h, ids.size))
            for j in slots:
                alpha[j] = rho[j] * np.einsum("bD,bD->b", s_hist[j], q)
                q -= alpha[j][:, None] * y_hist[j]
            r = self._apply_m_inverse(q, zx, x_b, T_b, Gx_b)
            for j in reversed(slots):
                beta = rho[j] * np.einsum("bD,bD->b", y_hist[j], r)
                r += (alpha[j] - beta)[:, None] * s_hist[j]
            slope = np.einsum("bD,bD->b", G, r)
            bad = ~(slope > 0)  # not a descent direction (rounding): restart that problem
            if bad.any():
                r[bad] = self._apply_m_inverse(G[bad], zx[bad], x_b[bad], T_b[bad], Gx_b[bad])
                slope[bad] = np.einsum("bD,bD->b", G[bad], r[bad])
                rho[:, bad] = 0.0
            # backtracking (Armijo) line search, evaluated only where a step is refused
            slot = it % h
            t = np.ones(ids.size)
            todo = np.arange(ids.size)
            for _ in range(40):
                W_try = W[todo] - t[todo, None] * r[todo]
                f_try, G_try, zx_try = self._value_and_gradient(W_try, x_b[todo], labels[todo])
                # the slack lets a step through when the decrease is below rounding
                slack = 1e-13 * (1.0 + np.abs(f[todo]))
                ok = f_try <= f[todo] - 1e-4 * t[todo] * slope[todo] + slack
                ok |= t[todo] < 1e-10
                acc = todo[ok]
                s_vec = W_try[ok] - W[acc]
                y_vec = G_try[ok] - G[acc]
                sy = np.einsum("bD,bD->b", s_vec, y_vec)
                s_hist[slot, acc], y_hist[slot, acc] = s_vec, y_vec
                rho[slot, acc] = np.where(sy > 1e-14, 1.0 / np.where(sy > 1e-14, sy, 1.0), 0.0)
                W[acc], f[acc], G[acc], zx[acc] = W_try[ok], f_try[ok], G_try[ok], zx_try[ok]
                todo = todo[~ok]
                if todo.size == 0:
                    break
                t[todo] *= 0.5
        for j in range(ids.size):  # rare: finish slow problems with scipy's L-BFGS-B
            res = minimize(
                self._objective,
                W[j],
                args=(x_b[j], int(labels[j])),
                jac=True,
                method="L-BFGS-B",
                options={"gtol": _WARM_TOL, "ftol": 1e-15, "maxiter": 10_000},
            )
            out[ids[j]] = res.x
        self.n_fallback_ += int(ids.size)
        return out

    def _apply_m_inverse(self, g, zx, x_b, T_b, Gx_b):
        """(H0 + U U^T)^-1 g per problem, U = (I ⊗ x) S, S S^T the sample's curvature."""
        K, dp = self.K, self.dp
        S = self._curvature_factor(zx)
        Q = np.eye(K) + S.transpose(0, 2, 1) @ Gx_b @ S
        r = g @ self.Hinv
        a = np.einsum("bkj,bk->bj", S, np.einsum("bkd,bd->bk", r.reshape(-1, K, dp), x_b))
        r -= (T_b @ (S @ np.linalg.solve(Q, a[:, :, None])))[:, :, 0]
        return r

    def eval_losses(self, W: np.ndarray, X_eval: np.ndarray, loss: str) -> np.ndarray:
        """Mean self-estimated loss on X_eval for every coefficient row of W (B, D)."""
        B = W.shape[0]
        Z = (W.reshape(B * self.K, self.dp) @ X_eval.T).reshape(B, self.K, -1)
        if self.binary:
            z = Z[:, 0]
            if loss == "log":  # binary entropy from the logit
                per_row = np.logaddexp(0.0, z) - z * _sigmoid(z)
            else:
                per_row = _sigmoid(-np.abs(z))
        else:
            Z -= Z.max(axis=1, keepdims=True)
            E = np.exp(Z)
            total = E.sum(axis=1)
            if loss == "log":  # entropy = log sum e^z - sum p z
                per_row = np.log(total) - np.einsum("bkn,bkn->bn", E, Z) / total
            else:  # 1 - max p, and max p = e^0 / total after the shift
                per_row = 1.0 - 1.0 / total
        return per_row.mean(axis=1)


def _softmax_lse(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax over axis 1 and the log-sum-exp, sharing one exp pass."""
    zmax = Z.max(axis=1, keepdims=True)
    E = np.exp(Z - zmax)
    total = E.sum(axis=1, keepdims=True)
    E /= total
    return E, (zmax + np.log(total))[:, 0]


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
          no ``class_weight``, not liblinear, finite ``C``) is refit by a dedicated
          solver: L-BFGS started at the current coefficients, preconditioned with the
          current Hessian of the labeled rows plus the added sample's own curvature,
          vectorised over every (candidate, label) pair. It minimises scikit-learn's
          own objective (``sum of log-losses + ||coef||^2 / (2 C)``, intercept not
          penalised) until the per-sample gradient is below 1e-7, so it reproduces a
          fit from scratch (evaluation losses agree to ~1e-7) rather than
          approximating it. Assumes the model was fit without sample weights. Needs
          a dense ``D x D`` matrix, ``D = n_outputs * (n_features + 1)``;
        - ``"partial_fit"``: a copy of the fitted estimator gets one ``partial_fit``
          call with ``(x, y)``: exact for count-based models (naive Bayes), a single
          stochastic step (an approximation) for SGD or MLP models;
        - ``"clone"``: a fresh copy is fit from scratch on labeled + ``(x, y)`` (exact,
          the slowest);
        - ``"auto"``: ``"warm_start"`` where it applies and ``D <= 2048``,
          otherwise ``"clone"``.
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
    cand = np.arange(n_pool) if candidates is None else _check_candidates(candidates, n_pool)
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
    _columns(np.unique(y_lab), view.classes, "y_labeled has labels")

    # (a) pre-filter: the only O(n_candidates) model call
    if proba is None:  # in chunks: bounded memory however large the pool
        P = np.empty((cand.size, view.classes.size))
        for start in range(0, cand.size, _ROW_CHUNK):
            rows = Xp[cand[start : start + _ROW_CHUNK]]
            _check_finite_rows(rows)
            P[start : start + rows.shape[0]] = view.proba(rows)
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
    current = _mean_loss(P[eval_pos], loss)

    Pc = np.clip(P[chosen], 0.0, 1.0)
    m, C = Pc.shape
    losses = np.full((m, C), np.nan)
    if view.constant:  # a one-class model stays one-class whatever is added: nothing to gain
        method, n_refits = "none", 0
        losses[Pc > 0] = current
    else:
        method = _choose_refit(view, refit)
        X_cand = Xp[cand[chosen]]
        X_eval = Xp[eval_idx]
        if method == "warm_start":
            n_refits = _warm_start_losses(view, X_lab, y_lab, X_cand, X_eval, loss, losses)
        else:
            n_refits = _generic_losses(view, method, X_lab, y_lab, X_cand, X_eval, Pc, loss, losses)
    expected = np.where(Pc > 0, Pc * np.nan_to_num(losses), 0.0).sum(axis=1)
    scores = current - expected
    out_idx = cand[chosen]
    if not return_details:
        return out_idx, scores
    details = EERDetails(
        eval_indices=eval_idx,
        proba=Pc,
        loss_given_label=losses,
        expected_loss=expected,
        current_loss=current,
        n_refits=int(n_refits),
        refit=method,
    )
    return out_idx, scores, details


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _check_candidates(candidates, n_pool: int) -> np.ndarray:
    """Integer pool indices, in range and unique (an O(n) mask, no sort or hash)."""
    a = np.asarray(candidates)
    if a.dtype == bool:
        return check_indices(a, n_pool, name="candidates")
    if a.size == 0:
        return np.empty(0, dtype=np.intp)
    if not np.issubdtype(a.dtype, np.integer):
        raise InvalidInputError(f"candidates must be integer pool indices, got {a.dtype}.")
    a = a.astype(np.intp, copy=False).ravel()
    if a.min() < 0 or a.max() >= n_pool:
        raise InvalidInputError(f"candidates has indices outside [0, {n_pool}).")
    seen = np.zeros(n_pool, dtype=bool)
    seen[a] = True
    if np.count_nonzero(seen) != a.size:
        raise InvalidInputError("candidates has duplicate indices.")
    return a


def _check_finite_rows(X) -> None:
    values = X.data if sparse.issparse(X) else X
    if not np.isfinite(values).all():
        raise InvalidInputError("X_pool contains NaN or inf values; impute or drop them first.")


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
    L, K, D = solver.n_labels, solver.K, solver.D
    # bounded memory: chunks of candidates for the solver, smaller ones for evaluation
    per_solve = L * ((2 * _HISTORY + 6) * D + 4 * K * solver.X.shape[0])
    per_eval = L * 3 * K * xe.shape[0]
    chunk = max(1, _CHUNK_ENTRIES // per_solve)
    eval_chunk = max(1, _CHUNK_ENTRIES // per_eval)
    cols = view.columns
    # many small matrix products: one BLAS thread is faster and does not fight other work
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, xs.shape[0], chunk):
            W = solver.solve(xs[start : start + chunk])  # (m * L, D), candidate-major
            for e in range(0, W.shape[0] // L, eval_chunk):
                rows = W[e * L : (e + eval_chunk) * L]
                lo = start + e
                hi = lo + rows.shape[0] // L
                out[lo:hi, cols] = solver.eval_losses(rows, xe, loss).reshape(-1, L)
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
