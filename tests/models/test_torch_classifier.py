"""TorchClassifier: determinism, MC dropout, ensembles, gradients, and the loop using them.

Every value is checked against an independent computation: numpy formulas worked
by hand (BALD, the closed forms of EGL and of the BADGE embedding), or torch's own
module run directly.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from torch import nn  # noqa: E402

from labelwise.errors import MissingRequirementError  # noqa: E402
from labelwise.loop import ActiveLoop, LabelBudget, SimulatedOracle  # noqa: E402
from labelwise.models import (  # noqa: E402
    SampledCommittee,
    TorchClassifier,
    make_model,
    mlp_factory,
)
from labelwise.strategies import bald  # noqa: E402

pytestmark = pytest.mark.torch


def blobs(n=120, d=5, C=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(C, d))
    y = np.arange(n) % C
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


def small(**kw):
    kw.setdefault("epochs", 30)
    kw.setdefault("lr", 1e-2)
    kw.setdefault("random_state", 0)
    return TorchClassifier(mlp_factory(hidden=(16,), dropout=kw.pop("dropout", 0.3)), **kw)


def linear_factory(n_features, n_classes):
    return nn.Linear(n_features, n_classes)


class NoDropout(nn.Module):
    def __init__(self, d, C):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.out = nn.Linear(8, C)

    def forward(self, x):
        return self.out(self.body(x))


def test_core_imports_never_import_torch():
    code = (
        "import sys, labelwise, labelwise.models, labelwise.loop, labelwise.strategies, "
        "labelwise.cli; assert 'torch' not in sys.modules, 'torch imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_missing_torch_names_the_pip_command():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from labelwise.models import make_model\n"
        "from labelwise.errors import MissingRequirementError\n"
        "try:\n    make_model('torch_mlp', classes=[0, 1])\n"
        "except MissingRequirementError as e:\n    print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "pip install torch==2.13.0" in r.stdout, r.stderr


def test_same_seed_same_probabilities_other_seed_other():
    X, y = blobs()
    a = small(random_state=3).fit(X, y).predict_proba(X)
    b = small(random_state=3).fit(X, y).predict_proba(X)
    c = small(random_state=4).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4
    # a clone is unfitted and trains to the very same model
    m = small(random_state=3)
    np.testing.assert_array_equal(clone(m).fit(X, y).predict_proba(X), a)


def test_fit_leaves_global_torch_state_alone():
    X, y = blobs(n=40)
    torch.manual_seed(123)
    expected = torch.rand(3)
    threads = torch.get_num_threads()
    torch.set_num_threads(3)  # neither 1 (a small net's setting) nor every core of this box
    try:
        torch.manual_seed(123)
        m = small(epochs=3).fit(X, y)
        m.predict_proba_samples(X, n_samples=2)
        m.expected_gradient_length(X[:3])
        small(epochs=2, n_threads=2).fit(X, y)
        assert torch.get_num_threads() == 3
        torch.testing.assert_close(torch.rand(3), expected)  # the global RNG was not consumed
    finally:
        torch.set_num_threads(threads)


def test_predict_proba_is_the_module_output_in_eval_mode():
    X, y = blobs()
    m = small().fit(X, y)
    module = m.modules_[0]
    with torch.no_grad():
        ref = torch.softmax(module.eval()(torch.from_numpy(X)), 1).double().numpy()
    np.testing.assert_allclose(m.predict_proba(X), ref, atol=1e-6)
    assert (m.predict(X) == m.classes_[ref.argmax(1)]).all()


def test_early_stopping_keeps_the_best_epoch_on_a_stratified_slice():
    X, y = blobs(n=200)
    m = small(epochs=200, patience=3, validation_fraction=0.2).fit(X, y)
    assert m.n_epochs_[0] < 200  # separable blobs: the validation loss stops improving
    # too few rows: nothing held back, every epoch run
    m = small(epochs=7, patience=1).fit(X[:15], y[:15])
    assert m.n_epochs_ == [7]


def test_mc_dropout_samples_differ_and_their_mean_tends_to_the_deterministic_output():
    X, y = blobs()
    m = small(dropout=0.5).fit(X, y)
    S = m.predict_proba_samples(X, n_samples=8)
    assert S.shape == (8, X.shape[0], 3)
    np.testing.assert_allclose(S.sum(axis=2), 1.0, atol=1e-6)
    assert np.abs(S[0] - S[1]).max() > 1e-3
    # the same weights, a smaller and smaller dropout rate at inference
    drop = m.modules_[0].features[2]
    assert isinstance(drop, nn.Dropout)
    P = m.predict_proba(X)
    gaps = []
    for p in (0.3, 0.03, 0.003, 0.0003):
        drop.p = p
        S = m.predict_proba_samples(X, n_samples=50)
        gaps.append(np.abs(S.mean(axis=0) - P).mean())  # mean over rows and classes
    assert gaps == sorted(gaps, reverse=True) and gaps[0] > 100 * gaps[-1]
    assert gaps[-1] < 1e-4
    drop.p = 0.0
    np.testing.assert_allclose(m.predict_proba_samples(X, n_samples=3)[0], P, atol=1e-12)


def test_mc_dropout_keeps_batch_norm_in_eval_mode():
    X, y = blobs()

    class WithBN(NoDropout):
        def __init__(self, d, C):
            super().__init__(d, C)
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            return self.out(self.drop(self.body(x)))

    m = TorchClassifier(WithBN, epochs=5, random_state=0).fit(X, y)
    bn = m.modules_[0].body[1]
    mean_before = bn.running_mean.clone()
    m.predict_proba_samples(X, n_samples=3)
    torch.testing.assert_close(bn.running_mean, mean_before)  # no batch statistics taken
    assert not m.modules_[0].training and not bn.training


def test_a_module_without_dropout_cannot_give_mc_samples():
    X, y = blobs(n=40)
    m = TorchClassifier(NoDropout, epochs=2, random_state=0).fit(X, y)
    with pytest.raises(MissingRequirementError, match="no dropout layer"):
        m.predict_proba_samples(X)


def test_deep_ensemble_members_are_the_committee():
    X, y = blobs()
    m = small(n_members=3, epochs=10).fit(X, y)
    members = m.predict_proba_samples(X)
    assert members.shape == (3, X.shape[0], 3)
    assert np.abs(members[0] - members[1]).max() > 1e-4  # different seeds
    np.testing.assert_allclose(m.predict_proba(X), members.mean(axis=0), atol=1e-12)
    both = m.predict_proba_samples(X, n_samples=2)
    assert both.shape == (6, X.shape[0], 3)


def test_bald_of_the_samples_equals_the_hand_formula():
    X, y = blobs()
    m = small(dropout=0.5).fit(X, y)
    S = m.predict_proba_samples(X[:30], n_samples=10)
    mean = S.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h_mean = -np.nansum(np.where(mean > 0, mean * np.log(mean), 0.0), axis=1)
        h_each = -np.nansum(np.where(S > 0, S * np.log(S), 0.0), axis=2).mean(axis=0)
    np.testing.assert_allclose(bald(S), h_mean - h_each, atol=1e-9)
    assert (h_mean - h_each).max() > 1e-3


def test_autograd_egl_equals_the_closed_form_on_a_linear_softmax_model():
    X, y = blobs(C=4)
    m = TorchClassifier(linear_factory, epochs=5, random_state=0).fit(X, y)
    P = m.predict_proba(X)
    x_sq = (X.astype(np.float64) ** 2).sum(axis=1) + 1.0  # bias: a constant-1 feature
    closed = np.zeros(X.shape[0])
    for c in range(4):
        e = np.zeros(4)
        e[c] = 1.0
        closed += P[:, c] * np.linalg.norm(P - e, axis=1) * np.sqrt(x_sq)
    np.testing.assert_allclose(m.expected_gradient_length(X), closed, rtol=0, atol=1e-6)


def test_autograd_egl_counts_every_layer_of_a_deeper_module():
    X, y = blobs()
    m = small().fit(X, y)
    module = m.modules_[0].double()
    x = torch.from_numpy(X[:2].astype(np.float64))
    expected = []
    for row in x:  # per-sample, per-class backward passes by hand
        p = torch.softmax(module(row[None]), 1)[0].detach()
        s = 0.0
        for c in range(3):
            module.zero_grad()
            nn.functional.cross_entropy(module(row[None]), torch.tensor([c])).backward()
            g = torch.cat([q.grad.reshape(-1) for q in module.parameters()])
            s += float(p[c]) * float(g.norm())
        expected.append(s)
    m.modules_[0].float()
    np.testing.assert_allclose(m.expected_gradient_length(X[:2]), expected, rtol=1e-5)


def test_embed_and_gradient_embedding_match_the_closed_form():
    X, y = blobs()
    m = small().fit(X, y)
    module = m.modules_[0]
    with torch.no_grad():
        h = module.features(torch.from_numpy(X)).double().numpy()
    H = m.embed(X)
    np.testing.assert_allclose(H, h, atol=1e-6)
    P = m.predict_proba(X)
    G = m.gradient_embedding(X)
    onehot = np.eye(3)[P.argmax(axis=1)]
    expected = np.einsum("nc,nd->ncd", P - onehot, h).reshape(X.shape[0], -1)
    assert G.shape == (X.shape[0], 3 * 16)
    np.testing.assert_allclose(G, expected, atol=1e-5)


def test_embed_without_a_head_reads_the_last_linear_input():
    X, y = blobs()
    m = TorchClassifier(NoDropout, epochs=3, random_state=0).fit(X, y)
    module = m.modules_[0]
    with torch.no_grad():
        h = module.body(torch.from_numpy(X)).double().numpy()
    np.testing.assert_allclose(m.embed(X), h, atol=1e-6)


def _digits(n):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


def test_the_loop_uses_mc_dropout_for_committee_scorers_without_bagging():
    X, y = _digits(260)
    loop = ActiveLoop(
        X[:200],
        oracle=SimulatedOracle(y[:200]),
        initial=np.arange(30),
        classes=list(range(10)),
        model=make_model("torch_mlp", classes=list(range(10))).estimator.set_params(epochs=15),
        strategy="bald",
        batch_size=10,
        stopping=[LabelBudget(10)],
        random_state=0,
    )
    assert isinstance(loop.committee, SampledCommittee)
    loop.start()
    est = loop.model.estimator
    sel = loop.select()
    cand = loop.candidates
    S = est.predict_proba_samples(X[:200][cand])
    np.testing.assert_allclose(sel.criteria["bald"], bald(S), atol=1e-9)


@pytest.mark.parametrize("strategy", ["badge", "expected_gradient_length"])
def test_the_loop_asks_the_network_for_its_own_gradients(strategy, monkeypatch):
    X, y = _digits(200)
    calls = []
    for name in ("gradient_embedding", "expected_gradient_length"):
        orig = getattr(TorchClassifier, name)

        def spy(self, X, _orig=orig, _name=name):
            calls.append(_name)
            return _orig(self, X)

        monkeypatch.setattr(TorchClassifier, name, spy)
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=np.arange(30),
        classes=list(range(10)),
        model=small(epochs=5),
        strategy=strategy,
        batch_size=5,
        random_state=0,
    )
    loop.start()
    sel = loop.select()
    assert len(sel.indices) == 5
    assert calls == ["gradient_embedding" if strategy == "badge" else strategy]
    if strategy == "expected_gradient_length":
        est = loop.model.estimator
        np.testing.assert_allclose(
            sel.criteria[strategy], est.expected_gradient_length(X[loop.candidates])
        )


@pytest.mark.parametrize(("name", "floor"), [("torch_head", 0.75), ("torch_cnn", 0.65)])
def test_registered_torch_architectures_learn_digits(name, floor):
    X, y = _digits(700)
    m = make_model(name, classes=list(range(10)), random_state=0).fit(X[:300], y[:300])
    assert (m.predict(X[300:]) == y[300:]).mean() > floor  # chance: 0.1
    assert m.estimator.predict_proba_samples(X[:4]).shape == (20, 4, 10)  # MC dropout


def test_torch_cnn_names_the_input_it_expects():
    from labelwise.errors import InvalidInputError

    X, y = blobs(d=10)
    with pytest.raises(InvalidInputError, match="flattened square images"):
        make_model("torch_cnn", classes=[0, 1, 2]).fit(X, y)


def test_the_pipeline_yaml_accepts_the_torch_model_names():
    from pydantic import ValidationError

    from labelwise.config import ModelConfig
    from labelwise.models import model_names

    for name in ("torch_mlp", "torch_head", "torch_cnn"):
        assert ModelConfig(name=name).name == name and name in model_names()
    with pytest.raises(ValidationError):
        ModelConfig(name="torch_mpl")
