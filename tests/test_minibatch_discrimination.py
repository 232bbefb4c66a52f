"""Minibatch discrimination (Salimans et al. 2016) and its pairwise L1 primitives: the layer
against the paper's formula written as loops, the primitives against their definitions on the
full (B, N, N, C) tensor of differences, first and second derivatives by finite differences
(float64), dtypes kept, ties given sign 0, and errors naming the op."""

import numpy
import pytest

import scratchgan as sg
from scratchgan.gan import tricks
from scratchgan.ops import pairwise

pytestmark = pytest.mark.usefixtures("kernel_backend")


@pytest.fixture
def rng():
    return numpy.random.default_rng(0)


def paper_closeness(x, t, num_kernels, kernel_dim):
    """o(x_i)_b = sum_{j != i} exp(-||M_i,b - M_j,b||_L1) with M_i = x_i T as (B, C) (float64 loops)."""
    m = (x.astype(numpy.float64) @ t.astype(numpy.float64)).reshape(len(x), num_kernels, kernel_dim)
    closeness = numpy.zeros((len(x), num_kernels))
    for i in range(len(x)):
        for j in range(len(x)):
            if j != i:
                closeness[i] += numpy.exp(-numpy.abs(m[i] - m[j]).sum(axis=1))
    return closeness


def differences(m):
    return m[:, :, None, :] - m[:, None, :, :]  # (B, N, N, C): m[b, i, c] - m[b, j, c]


def layer_with(rng, in_features, num_kernels, kernel_dim, dtype=numpy.float64, scale=0.5):
    layer = tricks.MinibatchDiscrimination(in_features, num_kernels, kernel_dim, dtype=dtype)
    layer.T.data = (rng.standard_normal(layer.T.shape) * scale).astype(dtype)
    return layer


def rows_away_from_ties(rng, shape, gap=1e-3):
    """(B, N, C) values where no two rows of a group share a channel value (away from |.|'s kink)."""
    m = rng.standard_normal(shape)
    assert numpy.abs(differences(m))[:, ~numpy.eye(shape[1], dtype=bool)].min() > gap
    return m


# -- the layer ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n, in_features, num_kernels, kernel_dim", [(2, 3, 1, 1), (7, 5, 4, 3), (16, 8, 16, 8)])
def test_closeness_is_the_papers_sum_over_other_samples(rng, n, in_features, num_kernels, kernel_dim):
    layer = layer_with(rng, in_features, num_kernels, kernel_dim)
    x = rng.standard_normal((n, in_features))
    out = layer(sg.Tensor(x)).numpy()
    numpy.testing.assert_array_equal(out[:, :in_features], x)
    numpy.testing.assert_allclose(out[:, in_features:], paper_closeness(x, layer.T.numpy(), num_kernels, kernel_dim),
                                  rtol=1e-12, atol=1e-15)


def test_closeness_of_duplicated_samples_counts_each_copy_as_exp_0(rng):
    # a collapsed batch: equal rows are at L1 distance 0, so each copy adds exactly 1
    layer = layer_with(rng, 4, 3, 2)
    x = numpy.repeat(rng.standard_normal((2, 4)), [3, 1], axis=0)  # three copies of one row, then another
    out = layer(sg.Tensor(x)).numpy()[:, 4:]
    numpy.testing.assert_allclose(out, paper_closeness(x, layer.T.numpy(), 3, 2), rtol=1e-12)
    assert numpy.all(out[:3] >= 2.0)


def test_float32_closeness_matches_the_float64_formula_to_float32_rounding(rng):
    layer = layer_with(rng, 16, 16, 8, dtype=numpy.float32, scale=0.1)
    x = rng.standard_normal((64, 16)).astype(numpy.float32)
    out = layer(sg.Tensor(x))
    assert out.dtype == numpy.float32 and layer.T.dtype == numpy.float32
    numpy.testing.assert_allclose(out.numpy()[:, 16:], paper_closeness(x, layer.T.numpy(), 16, 8), rtol=2e-5)


def test_layer_gradients_match_finite_differences_in_x_and_T(rng):
    layer = layer_with(rng, 3, 2, 3)
    x = sg.Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    m = (x.numpy() @ layer.T.numpy()).reshape(5, 2, 3).transpose(1, 0, 2)  # projections apart: no kink
    assert numpy.abs(differences(m))[:, ~numpy.eye(5, dtype=bool)].min() > 1e-3
    sg.gradcheck(lambda x, t: layer(x), (x, layer.T))


def test_layer_second_derivatives_match_finite_differences_in_x_and_T(rng):
    # what a gradient penalty (R1, WGAN-GP) through a minibatch-discrimination critic needs
    layer = layer_with(rng, 3, 2, 3)
    x = sg.Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    m = (x.numpy() @ layer.T.numpy()).reshape(5, 2, 3).transpose(1, 0, 2)
    assert numpy.abs(differences(m))[:, ~numpy.eye(5, dtype=bool)].min() > 1e-3
    sg.gradgradcheck(lambda x, t: layer(x), (x, layer.T))


def composed_layer(layer, x):
    """The layer as plain Tensor ops over the (N, N, B, C) tensor of differences: slow, obviously the formula."""
    n, shape = x.shape[0], (layer.num_kernels, layer.kernel_dim)
    m = (x @ layer.T).reshape(n, 1, *shape)
    distances = (m - m.reshape(1, n, *shape)).abs().sum(axis=3)  # (N, N, B)
    return sg.ops.concatenate([x, (-distances).exp().sum(axis=1) - 1.0], axis=1)


def test_gradient_penalty_through_the_layer_equals_the_composed_formulas(rng):
    # value, input gradient, a penalty on it and the penalty's gradients (second order), float64
    layer = layer_with(rng, 16, 16, 8, scale=0.1)
    x0, cotangent = rng.standard_normal((32, 16)), sg.Tensor(rng.standard_normal((32, 32)))
    results = []
    for forward in (composed_layer, lambda layer, x: layer(x)):
        x = sg.Tensor(x0, requires_grad=True)
        value = (forward(layer, x) * cotangent).sum()
        (input_grad,) = sg.grad(value, [x], create_graph=True)
        penalty = (input_grad * input_grad).sum()
        results.append([value.numpy(), input_grad.numpy(), *[g.numpy() for g in sg.grad(penalty, [layer.T, x])]])
    for composed, fused in zip(*results):
        numpy.testing.assert_allclose(fused, composed, rtol=1e-12, atol=1e-14 * numpy.abs(composed).max())


# -- the primitives ------------------------------------------------------------------------------
def test_pairwise_l1_is_the_sum_of_absolute_differences(rng):
    m = rng.standard_normal((3, 6, 4))
    numpy.testing.assert_allclose(pairwise.pairwise_l1(sg.Tensor(m)).numpy(), numpy.abs(differences(m)).sum(axis=3),
                                  rtol=1e-14)


def test_pairwise_sign_contract_is_the_sign_weighted_sum_over_j(rng):
    m, w = rng.standard_normal((3, 6, 4)), rng.standard_normal((3, 6, 6))
    m[1, 2, 0] = m[1, 4, 0]  # a tie: sign 0
    expected = numpy.einsum("bij,bijc->bic", w, numpy.sign(differences(m)))
    numpy.testing.assert_allclose(pairwise.pairwise_sign_contract(sg.Tensor(m), sg.Tensor(w)).numpy(), expected,
                                  rtol=1e-13, atol=1e-14)


def test_pairwise_sign_dot_is_the_sign_weighted_sum_over_channels(rng):
    m, h = rng.standard_normal((3, 6, 4)), rng.standard_normal((3, 6, 4))
    m[0, 1, 3] = m[0, 5, 3]
    expected = numpy.einsum("bijc,bic->bij", numpy.sign(differences(m)), h)
    numpy.testing.assert_allclose(pairwise.pairwise_sign_dot(sg.Tensor(m), sg.Tensor(h)).numpy(), expected,
                                  rtol=1e-13, atol=1e-14)


def test_pairwise_l1_closeness_is_the_sum_of_exp_minus_distance_over_other_rows(rng):
    m = rng.standard_normal((3, 6, 4)) * 0.3
    kernel = numpy.exp(-numpy.abs(differences(m)).sum(axis=3))
    expected = (kernel * (1 - numpy.eye(6))).sum(axis=2)
    numpy.testing.assert_allclose(pairwise.pairwise_l1_closeness(sg.Tensor(m)).numpy(), expected, rtol=1e-13)


def closeness_grad(m, g):
    return pairwise.PairwiseL1ClosenessGrad.apply(m, g)


def test_closeness_gradient_node_is_the_formula_with_and_without_the_forwards_kernel(rng):
    m, g = rng.standard_normal((2, 5, 3)) * 0.3, rng.standard_normal((2, 5))
    kernel = numpy.exp(-numpy.abs(differences(m)).sum(axis=3))  # (B, N, N)
    expected = -numpy.einsum("bij,bijc->bic", (g[:, :, None] + g[:, None, :]) * kernel, numpy.sign(differences(m)))
    recomputed = closeness_grad(sg.Tensor(m), sg.Tensor(g)).numpy()
    kept = pairwise.PairwiseL1ClosenessGrad.apply(sg.Tensor(m), sg.Tensor(g), kernel=kernel).numpy()
    numpy.testing.assert_allclose(recomputed, expected, rtol=1e-13, atol=1e-15)
    numpy.testing.assert_array_equal(kept, recomputed)


def test_pairwise_l1_closeness_derivatives_match_finite_differences_to_third_order(rng):
    # first and second order through the grad node's fused forward and its backward; the
    # grad node's own second derivatives (the closeness's third) through its create_graph path
    m = sg.Tensor(rows_away_from_ties(rng, (2, 4, 3)) * 0.5, requires_grad=True)
    sg.gradcheck(pairwise.pairwise_l1_closeness, m)
    sg.gradgradcheck(pairwise.pairwise_l1_closeness, m)
    g = sg.Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    sg.gradcheck(closeness_grad, (m, g))
    sg.gradgradcheck(closeness_grad, (m, g))


@pytest.mark.parametrize("op, second_shape", [(pairwise.pairwise_l1, None),
                                              (pairwise.pairwise_l1_closeness, None),
                                              (closeness_grad, (2, 5)),
                                              (pairwise.pairwise_sign_contract, (2, 5, 5)),
                                              (pairwise.pairwise_sign_dot, (2, 5, 3))])
def test_pairwise_primitives_keep_float32(rng, op, second_shape):
    arguments = [sg.Tensor(rng.standard_normal((2, 5, 3)).astype(numpy.float32))]
    if second_shape is not None:
        arguments.append(sg.Tensor(rng.standard_normal(second_shape).astype(numpy.float32)))
    assert op(*arguments).dtype == numpy.float32


def test_pairwise_l1_derivatives_match_finite_differences_to_second_order(rng):
    m = sg.Tensor(rows_away_from_ties(rng, (2, 4, 3)), requires_grad=True)
    sg.gradcheck(pairwise.pairwise_l1, m)
    sg.gradgradcheck(pairwise.pairwise_l1, m)


@pytest.mark.parametrize("op, second_shape", [(pairwise.pairwise_sign_contract, (2, 4, 4)),
                                              (pairwise.pairwise_sign_dot, (2, 4, 3))])
def test_sign_contractions_are_linear_in_the_weights_and_flat_in_m(rng, op, second_shape):
    m = sg.Tensor(rows_away_from_ties(rng, (2, 4, 3)), requires_grad=True)
    weights = sg.Tensor(rng.standard_normal(second_shape), requires_grad=True)
    sg.gradcheck(op, (m, weights))
    sg.gradgradcheck(op, (m, weights))


@pytest.mark.parametrize("call, message", [
    (lambda: pairwise.pairwise_l1(sg.Tensor(numpy.zeros((4, 3)))),
     r"pairwise_l1: expected m of shape \(B, N, C\) \(groups, rows, channels\), got shape \(4, 3\)"),
    (lambda: pairwise.pairwise_sign_contract(sg.Tensor(numpy.zeros((2, 4, 3))), sg.Tensor(numpy.zeros((2, 4, 3)))),
     r"pairwise_sign_contract: expected w of shape \(2, 4, 4\) for m of shape \(2, 4, 3\), got shape \(2, 4, 3\)"),
    (lambda: pairwise.pairwise_sign_dot(sg.Tensor(numpy.zeros((2, 4, 3))),
                                        sg.Tensor(numpy.zeros((2, 4, 3), dtype=numpy.float32))),
     r"pairwise_sign_dot: h has dtype float32 and m float64; expected one dtype"),
])
def test_pairwise_primitives_name_what_was_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()
