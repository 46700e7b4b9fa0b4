"""nnx.sklearn: scikit-learn's own estimator checks with no expected failures, and the estimators
at work in Pipeline, GridSearchCV (one and two jobs), pickling, partial_fit and module=."""
import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nnx  # noqa: E402
from nnx.sklearn import NNXClassifier, NNXRegressor  # noqa: E402


@parametrize_with_checks([NNXClassifier(), NNXRegressor()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y, Xt, yt = nnx.datasets.load_digits()
    return X.reshape(len(X), -1).astype(np.float64), y, Xt.reshape(len(Xt), -1).astype(np.float64), yt


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_pipeline_in_grid_search(digits, n_jobs):
    X, y, Xt, yt = digits
    pipe = make_pipeline(StandardScaler(), NNXClassifier(max_iter=30, random_state=0, n_threads=1))
    grid = GridSearchCV(pipe, {"nnxclassifier__hidden_layer_sizes": [(16,), (64,)]}, cv=2, n_jobs=n_jobs)
    grid.fit(X, y)
    assert grid.best_params_["nnxclassifier__hidden_layer_sizes"] in [(16,), (64,)]
    assert grid.score(Xt, yt) > 0.9


def test_fitted_estimators_pickle_and_predict_the_same(digits):
    X, y, Xt, _ = digits
    clf = NNXClassifier(hidden_layer_sizes=(32,), max_iter=20, random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(Xt), clf.predict_proba(Xt))
    assert clf.n_iter_ >= 1 and len(clf.loss_curve_) == clf.n_iter_ and clf.n_features_in_ == 64


def test_same_random_state_same_model(digits):
    X, y, Xt, _ = digits
    a = NNXClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=3).fit(X, y).predict_proba(Xt)
    b = NNXClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=3).fit(X, y).predict_proba(Xt)
    np.testing.assert_array_equal(a, b)


def test_partial_fit_learns_epoch_by_epoch(digits):
    X, y, Xt, yt = digits
    clf = NNXClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes="):
        clf.partial_fit(X, y)
    for _ in range(10):
        clf.partial_fit(X, y, classes=np.arange(10))
    assert clf.n_iter_ == 10 and clf.score(Xt, yt) > 0.85


def test_module_builds_any_nnx_model_and_input_shape_reshapes(digits):
    X, y, Xt, yt = digits
    clf = NNXClassifier(module=nnx.models.lenet5, input_shape=(1, 8, 8), max_iter=15, random_state=0,
                        learning_rate_init=0.003)
    clf.fit(X, y)
    assert isinstance(clf.model_.modules().__next__(), nnx.Module)
    assert clf.score(Xt, yt) > 0.85


def test_flat_images_for_a_cnn_module_suggest_input_shape(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match=r"pass input_shape=\(1, 8, 8\) to give the module images"):
        NNXClassifier(module=nnx.models.lenet5, max_iter=1).fit(X, y)
    doc = NNXClassifier.__doc__
    assert all(f"{name} :" in doc for name in ("module", "input_shape", "precision", "n_threads"))


def test_regressor_fits_a_smooth_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (400, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    reg = NNXRegressor(hidden_layer_sizes=(32,), max_iter=300, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (400,) and reg.score(X, y) > 0.9


def test_bad_parameters_are_named_at_fit(digits):
    X, y, _, _ = digits
    for bad, match in [({"activation": "swish"}, "activation"), ({"solver": "lbfgs"}, "solver"),
                       ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"), ({"batch_size": 0}, "batch_size")]:
        with pytest.raises(ValueError, match=match):
            NNXClassifier(**bad).fit(X[:20], y[:20])


def test_bf16_precision_trains_a_float32_model_under_autocast(digits):
    X, y, Xt, yt = digits  # float64 data: bf16 autocasts float32 models, so the model is float32
    acc, proba = {}, {}
    for prec in ("float32", "bfloat16"):
        clf = NNXClassifier(hidden_layer_sizes=(64,), max_iter=30, random_state=0, n_threads=1, precision=prec)
        clf.fit(X.astype(np.float32) if prec == "float32" else X, y)
        acc[prec], proba[prec] = clf.score(Xt, yt), clf.predict_proba(Xt)
        assert {p.data.dtype for p in clf.model_.parameters()} == {np.dtype(np.float32)}
    assert acc["bfloat16"] > 0.88 and abs(acc["bfloat16"] - acc["float32"]) <= 0.02, acc
    assert not np.array_equal(proba["bfloat16"], proba["float32"])  # bf16 did run
    reg = NNXRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0, precision="bf16").fit(X, y.astype(float))
    assert reg.predict(Xt).dtype == np.float64
    with pytest.raises(ValueError, match="NNXClassifier: precision: expected one of fp32, float32, bf16, bfloat16"):
        NNXClassifier(precision="fp16").fit(X, y)
