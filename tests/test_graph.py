"""Graph (DAG of modules), Add, summary."""
import numpy as np
import pytest

import nnx


def residual(dtype=np.float64):
    g = nnx.Graph()
    x = g.input("x")
    h = g.node("fc1", nnx.Linear(4, 4, dtype=dtype, rng=0), x)
    r = g.node("relu", nnx.ReLU(), h)
    a = g.node("add", nnx.Add(), r, x)  # skip connection: x feeds fc1 and add
    g.output(g.node("out", nnx.Linear(4, 2, dtype=dtype, rng=1), a))
    return g


def test_residual_names_forward_and_gradcheck(rng):
    g = residual()
    assert [n for n, _ in g.named_parameters()] == ["fc1.weight", "fc1.bias", "out.weight", "out.bias"]
    x = rng.standard_normal((3, 4))
    h = np.maximum(x @ g.fc1.weight.data.T + g.fc1.bias.data, 0) + x
    np.testing.assert_allclose(g(x), h @ g.out.weight.data.T + g.out.bias.data, rtol=1e-12)
    assert nnx.gradcheck(g, x)


def test_value_used_twice_receives_the_sum_of_both_gradients(rng):
    g = nnx.Graph()
    x = g.input("x")
    a = g.node("a", nnx.Sigmoid(), x)
    b = g.node("b", nnx.Tanh(), x)
    g.output(g.node("sum", nnx.Add(), a, b))
    x0 = rng.standard_normal((2, 3))
    g(x0)
    dx = g.backward(np.ones((2, 3)))
    s = 1 / (1 + np.exp(-x0))
    np.testing.assert_allclose(dx, s * (1 - s) + (1 - np.tanh(x0) ** 2), rtol=1e-12)


def test_diamond_and_two_inputs(rng):
    g = nnx.Graph()
    x, y = g.input("x"), g.input("y")
    top = g.node("top", nnx.Linear(3, 3, dtype=np.float64, rng=0), x)
    left = g.node("left", nnx.ReLU(), top)
    right = g.node("right", nnx.Sigmoid(), top)
    join = g.node("join", nnx.Add(), left, right, y)
    g.output(join)
    xs = (rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
    assert nnx.gradcheck(g, xs)
    g(*xs)
    dx, dy = g.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(dy, 1.0)


def test_graph_errors():
    g = nnx.Graph()
    x = g.input("x")
    g.node("a", nnx.ReLU(), x)
    with pytest.raises(ValueError, match="duplicate"):
        g.node("a", nnx.ReLU(), x)
    with pytest.raises(ValueError, match="no output"):
        g(np.ones(2))
    g2 = nnx.Graph()
    g2.input("x")
    g2.node("p", nnx.ReLU(), "q")  # forward references are allowed until the graph runs...
    g2.node("q", nnx.ReLU(), "p")
    g2.output("q")
    with pytest.raises(ValueError, match="cycle"):  # ...where a cycle is found
        g2(np.ones(2))
    g3 = nnx.Graph()
    g3.input("x")
    g3.output(g3.node("a", nnx.ReLU(), "nope"))
    with pytest.raises(ValueError, match="unknown parent 'nope'"):
        g3(np.ones(2))
    relu = nnx.ReLU()
    g4 = nnx.Graph()
    x4 = g4.input("x")
    g4.node("r1", relu, x4)
    with pytest.raises(ValueError, match="already a node"):
        g4.node("r2", relu, x4)
    with pytest.raises(ValueError, match="expected 1 inputs"):
        residual()(np.ones((1, 4)), np.ones((1, 4)))


def test_graph_state_dict_round_trip(rng):
    a, b = residual(), residual()
    b.fc1.reset_parameters(5)
    b.load_state_dict(a.state_dict())
    x = rng.standard_normal((2, 4))
    np.testing.assert_array_equal(a(x), b(x))


def test_summary_table_and_totals(capsys):
    m = nnx.Sequential(nnx.Conv2d(1, 6, 5, padding=2, rng=0), nnx.ReLU(), nnx.MaxPool2d(2), nnx.Flatten(),
                       nnx.Linear(6 * 14 * 14, 10, rng=1))
    s = nnx.summary(m, (1, 1, 28, 28))
    out = capsys.readouterr().out
    assert "Conv2d" in out and "(1, 6, 28, 28)" in out and "total parameters: 11,926" in out
    assert s.total_params == m.num_parameters() == 11926
    assert s.rows[0][4] == 2 * 6 * 28 * 28 * 25  # conv FLOPs: 2 * outputs * C*kh*kw
    assert s.rows[-1][4] == 2 * 1176 * 10
    assert nnx.summary(m, (1, 28, 28), print_table=False).total_flops == s.total_flops  # batch added
    assert m.training  # mode restored


def test_summary_reports_fusion_without_patching_the_model():
    m = nnx.Sequential(nnx.Linear(8, 16, rng=0), nnx.ReLU(), nnx.Linear(16, 4, rng=1))
    s = nnx.summary(m, (2, 8), print_table=False)
    assert [r[1] for r in s.rows] == ["Linear (fused: Linear+ReLU)", "ReLU (fused: Linear+ReLU)", "Linear"]
    assert [r[0] for r in s.rows] == ["0", "1", "2"] and s.rows[0][4] == 2 * 2 * 8 * 16
    assert all("forward" not in vars(layer) for layer in m.modules())  # nothing monkeypatched
    g = residual()
    rows = nnx.summary(g, (2, 4), print_table=False).rows
    assert [r[0] for r in rows] == ["fc1", "relu", "add", "out"]


def test_graph_backward_without_input_grad(rng):
    g = residual()
    x, dy = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    g(x)
    g.backward(dy)
    grads = [p.grad.copy() for p in g.parameters()]
    g.zero_grad()
    assert g.backward(dy, input_grad=False) is None
    for a, p in zip(grads, g.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, a)
