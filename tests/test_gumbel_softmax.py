"""``nn.functional.gumbel_softmax``: the Concrete relaxation of a categorical sample (seed 001).

y_soft = softmax((logits + g) / tau) with g ~ Gumbel(0, 1); ``hard=True`` gives the one-hot
of its argmax with y_soft's gradient (straight through). Each test states one property:
hand-computed values, rows on the simplex, exact one-hots, the straight-through gradient,
finite differences at both orders in float64 (with the noise held fixed), PyTorch parity
with PyTorch's own Gumbel draws replayed, the Gumbel-max law of the argmax, the draws'
source (the global generator, and the device stream on the GPU), and the errors.
"""

from __future__ import annotations

import math

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import scratchgan as sg
from parity import assert_parity
from scratchgan.nn import functional as F
from strategies import arrays, leaves, shapes
from tests import fake_cupy
from tests.test_cupy_backend import REAL_GPU, fake_gpu  # noqa: F401 (a fixture)

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)
DTYPES = pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32], ids=["float64", "float32"])


def logits_of(*shape, seed=0, dtype=numpy.float64):
    return sg.Tensor(numpy.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


def gumbel_draws(*shape, seed=1):
    return -numpy.log(numpy.random.default_rng(seed).standard_exponential(shape))


# -- values ----------------------------------------------------------------------------------------
def test_hand_computed_values_with_given_noise():
    logits = sg.Tensor(numpy.log([[1.0, 2.0, 5.0], [1.0, 2.0, 5.0]]))
    noise = numpy.array([[0.0, 0.0, 0.0], [math.log(3.0), 0.0, 0.0]])  # row 2: weights 3, 2, 5
    numpy.testing.assert_allclose(F.gumbel_softmax(logits, noise=noise).numpy(),
                                  [[1 / 8, 2 / 8, 5 / 8], [3 / 10, 2 / 10, 5 / 10]], rtol=1e-14)
    # tau = 1/2 squares the weights: softmax(2 log w) = w^2 / sum w^2
    numpy.testing.assert_allclose(F.gumbel_softmax(logits, tau=0.5, noise=noise).numpy(),
                                  [[1 / 30, 4 / 30, 25 / 30], [9 / 38, 4 / 38, 25 / 38]], rtol=1e-14)
    numpy.testing.assert_array_equal(F.gumbel_softmax(logits, hard=True, noise=noise).numpy(),
                                     [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    # along axis 0 the columns compete: column 0 is (1, 3) -> (1/4, 3/4)
    numpy.testing.assert_allclose(F.gumbel_softmax(logits, dim=0, noise=noise).numpy()[:, 0], [0.25, 0.75],
                                  rtol=1e-14)


@DTYPES
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_samples_lie_on_the_simplex_along_the_axis_in_the_logits_dtype(dtype, axis):
    sg.manual_seed(0)
    y = F.gumbel_softmax(logits_of(3, 4, 5, dtype=dtype), tau=0.7, dim=axis)
    assert y.dtype == dtype and y.shape == (3, 4, 5)
    assert numpy.all(y.numpy() >= 0) and numpy.all(y.numpy() <= 1)
    numpy.testing.assert_allclose(y.numpy().sum(axis=axis), 1.0, rtol=10 * numpy.finfo(dtype).eps)


@DTYPES
@pytest.mark.parametrize("axis", [0, -1])
def test_hard_samples_are_exact_one_hots_at_the_soft_samples_argmax(dtype, axis):
    logits = logits_of(6, 5, dtype=dtype)
    sg.manual_seed(3)
    soft = F.gumbel_softmax(logits, tau=0.5, dim=axis).numpy()
    sg.manual_seed(3)  # the same draws
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True, dim=axis).numpy()
    assert hard.dtype == dtype
    assert set(numpy.unique(hard)) <= {0.0, 1.0}
    numpy.testing.assert_array_equal(hard.sum(axis=axis), 1.0)
    numpy.testing.assert_array_equal(hard.argmax(axis=axis), soft.argmax(axis=axis))


# -- gradients -------------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, -1])
def test_the_gradient_of_the_hard_sample_is_the_soft_samples(axis):
    noise, cotangent = gumbel_draws(4, 6), numpy.random.default_rng(2).standard_normal((4, 6))
    logits = logits_of(4, 6)
    soft = F.gumbel_softmax(logits, tau=0.4, dim=axis, noise=noise)
    hard = F.gumbel_softmax(logits, tau=0.4, hard=True, dim=axis, noise=noise)
    (soft_grad,) = sg.grad((soft * sg.Tensor(cotangent)).sum(), [logits])
    (hard_grad,) = sg.grad((hard * sg.Tensor(cotangent)).sum(), [logits])
    numpy.testing.assert_allclose(hard_grad.numpy(), soft_grad.numpy(), rtol=1e-15, atol=1e-15)


def test_the_second_derivative_of_the_hard_sample_is_the_soft_samples():
    noise, cotangent = gumbel_draws(3, 5), numpy.random.default_rng(2).standard_normal((3, 5))

    def hessian_vector_product(hard):
        logits = logits_of(3, 5)
        y = F.gumbel_softmax(logits, tau=0.6, hard=hard, noise=noise)
        (grad,) = sg.grad((y * sg.Tensor(cotangent)).sum(), [logits], create_graph=True)
        (second,) = sg.grad((grad * grad).sum(), [logits])
        return second.numpy()

    numpy.testing.assert_allclose(hessian_vector_product(True), hessian_vector_product(False), rtol=1e-14)


@pytest.mark.usefixtures("kernel_backend")
@ORDERS
@given(shape=shapes(min_dims=1), tau=st.sampled_from([0.3, 1.0, 2.5]), data=st.data())
def test_the_soft_sample_matches_finite_differences(check, shape, tau, data):
    logits = data.draw(leaves(shape, low=-3.0, high=3.0))
    noise = data.draw(arrays(shape, low=-1.0, high=3.0))  # held fixed: the reparameterised sample
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    check(lambda x: F.gumbel_softmax(x, tau=tau, dim=axis, noise=noise), logits)


# -- PyTorch parity --------------------------------------------------------------------------------
def torch_sample(torch, logits, tau, hard, axis):
    """torch.nn.functional.gumbel_softmax and the Gumbel draws it made (its exponential_ replayed)."""
    torch.manual_seed(11)
    gumbels = -torch.empty_like(logits).exponential_().log()
    torch.manual_seed(11)
    return torch.nn.functional.gumbel_softmax(logits, tau=tau, hard=hard, dim=axis), gumbels


@pytest.mark.usefixtures("kernel_backend")
@DTYPES
@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
@pytest.mark.parametrize("tau, axis", [(0.3, -1), (1.0, 0), (2.5, 1), (1.0, -2)])
def test_value_and_gradient_match_pytorch_with_its_gumbel_draws(torch, dtype, hard, tau, axis):
    array = numpy.random.default_rng(5).standard_normal((4, 3, 5)).astype(dtype)
    theirs_logits = torch.tensor(array, requires_grad=True)
    theirs, gumbels = torch_sample(torch, theirs_logits, tau, hard, axis)
    replayed = torch.softmax((theirs_logits + gumbels) / tau, dim=axis)  # the replay is the same sample
    assert torch.equal(replayed.argmax(dim=axis), theirs.argmax(dim=axis))
    ours_logits = sg.Tensor(array.copy(), requires_grad=True)
    ours = F.gumbel_softmax(ours_logits, tau=tau, hard=hard, dim=axis,
                            noise=sg.Tensor(gumbels.detach().numpy()))  # a Tensor of noise works too
    assert_parity(ours, theirs, dtype, f"gumbel_softmax(tau={tau}, hard={hard}, dim={axis}) value")
    cotangent = numpy.random.default_rng(6).standard_normal(array.shape).astype(dtype)
    (ours_grad,) = sg.grad(ours, [ours_logits], grad_outputs=sg.Tensor(cotangent))
    (theirs_grad,) = torch.autograd.grad(theirs, [theirs_logits], grad_outputs=torch.tensor(cotangent))
    assert_parity(ours_grad, theirs_grad, dtype, f"gumbel_softmax(tau={tau}, hard={hard}, dim={axis}) grad")


# -- the distribution and where the draws come from ------------------------------------------------
@pytest.mark.parametrize("tau", [0.1, 1.0, 5.0])
def test_the_argmax_is_distributed_as_softmax_of_the_logits(tau):
    """The Gumbel-max trick: argmax_k (logits_k + g_k) ~ Categorical(softmax(logits)) at every tau."""
    logits = numpy.array([1.0, -0.5, 0.3, 2.0])  # unnormalised
    draws = 4000
    sg.manual_seed(0)
    samples = F.gumbel_softmax(sg.Tensor(numpy.broadcast_to(logits, (draws, 4)).copy()), tau=tau).numpy()
    counts = numpy.bincount(samples.argmax(axis=1), minlength=4)
    expected = numpy.exp(logits) / numpy.exp(logits).sum() * draws
    # a 1e-3 level: the fixed seed makes the outcome deterministic, the level keeps it meaningful
    assert stats.chisquare(counts, expected).pvalue > 1e-3, (counts, expected)


def test_draws_come_from_the_global_generator():
    logits = logits_of(5, 4)
    sg.manual_seed(9)
    first, second = F.gumbel_softmax(logits).numpy(), F.gumbel_softmax(logits).numpy()
    sg.manual_seed(9)
    numpy.testing.assert_array_equal(F.gumbel_softmax(logits).numpy(), first)
    assert not numpy.array_equal(first, second), "each call should draw new noise"


@pytest.mark.gpu
@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_on_the_device_the_draws_come_from_the_device_stream_without_reading_back(
        fake_gpu, hard):  # noqa: F811
    logits = sg.Tensor(numpy.random.default_rng(0).standard_normal((8, 5)).astype(numpy.float32)).to("cuda")
    sg.manual_seed(4)
    uniform = sg.rand(8, 5, dtype=numpy.float64, device="cuda").numpy()
    gumbels = -numpy.log(-numpy.log(numpy.maximum(uniform, numpy.finfo(numpy.float64).tiny)))
    sg.manual_seed(4)
    fake_cupy.reset_counters()
    y = F.gumbel_softmax(logits, tau=0.5, hard=hard)
    if not REAL_GPU:
        assert fake_cupy.synchronizations == 0, "gumbel_softmax read a device value back to the host"
    assert y.device == "cuda" and y.dtype == numpy.float32
    expected = F.gumbel_softmax(logits.to("cpu"), tau=0.5, hard=hard, noise=gumbels.astype(numpy.float32))
    numpy.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("tau", [0.0, -1.0, math.inf, math.nan])
def test_a_tau_that_is_not_positive_and_finite_is_refused(tau):
    with pytest.raises(ValueError, match=r"gumbel_softmax: tau must be a positive finite number, got"):
        F.gumbel_softmax(logits_of(2, 3), tau=tau)


@pytest.mark.parametrize("tau", ["1", None, True])
def test_a_tau_that_is_not_a_number_is_refused(tau):
    with pytest.raises(TypeError, match=r"gumbel_softmax: tau must be a positive finite number"):
        F.gumbel_softmax(logits_of(2, 3), tau=tau)


@pytest.mark.parametrize("axis", [2, -3])
def test_an_axis_out_of_range_is_refused_with_the_range(axis):
    expected = (rf"gumbel_softmax: dim {axis} is out of range for logits of shape \(2, 3\); "
                r"expected an int in \[-2, 1\]")
    with pytest.raises(ValueError, match=expected):
        F.gumbel_softmax(logits_of(2, 3), dim=axis)


@pytest.mark.parametrize("axis", [1.0, (0, 1), None])
def test_an_axis_that_is_not_an_int_is_refused(axis):
    with pytest.raises(TypeError, match=r"gumbel_softmax: dim must be an int"):
        F.gumbel_softmax(logits_of(2, 3), dim=axis)


def test_noise_of_another_shape_is_refused():
    expected = r"gumbel_softmax: noise must have logits' shape \(2, 3\), got \(3, 2\)"
    with pytest.raises(ValueError, match=expected):
        F.gumbel_softmax(logits_of(2, 3), noise=numpy.zeros((3, 2)))


def test_logits_without_a_category_axis_are_refused():
    with pytest.raises(ValueError, match=r"gumbel_softmax: logits must have at least one dimension"):
        F.gumbel_softmax(sg.Tensor(numpy.float64(1.0)))
    with pytest.raises(ValueError, match=r"gumbel_softmax: dim 1 of logits \(2, 0\) is empty"):
        F.gumbel_softmax(sg.Tensor(numpy.zeros((2, 0))))
