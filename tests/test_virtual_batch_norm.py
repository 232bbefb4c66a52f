"""Virtual batch norm (Salimans et al. 2016, sec. 3.4): ``VirtualBatchNorm1d`` / ``VirtualBatchNorm2d``.

A reference pass normalises the reference batch with its own statistics (batch norm in
training mode) and keeps them; each later example x_i is normalised with
mean_i = (n ref_mean + mean(x_i)) / (n + 1) and meansq_i likewise, var_i = meansq_i - mean_i^2.
Values are checked against a NumPy loop over examples and against the same formula in
PyTorch; derivatives in x, the reference batch, gamma and beta against finite differences.
"""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgan as sg
from scratchgan import nn
from parity import assert_parity, torch_dtype
from strategies import arrays, distinct_arrays, leaf

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)
DTYPES = pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32], ids=["float64", "float32"])
# (layer class, reference batch shape, shape of the batch normalised against it)
CASES = [
    (nn.VirtualBatchNorm1d, (4, 3), (5, 3)),
    (nn.VirtualBatchNorm1d, (3, 2, 4), (2, 2, 4)),
    (nn.VirtualBatchNorm2d, (4, 3, 2, 3), (3, 3, 2, 3)),
]
CASE_IDS = ["1d (N, C)", "1d (N, C, L)", "2d (N, C, H, W)"]


def vbn_reference_numpy(x, x_ref, weight, bias, eps=1e-5):
    """The per-example pass written out: one example at a time, plain NumPy."""
    channels, n = x.shape[1], x_ref.shape[0]
    ref_axes = (0,) + tuple(range(2, x_ref.ndim))
    ref_mean, ref_meansq = x_ref.mean(axis=ref_axes), (x_ref ** 2).mean(axis=ref_axes)
    out = numpy.empty_like(x)
    for i in range(x.shape[0]):
        for c in range(channels):
            values = x[i, c]
            mean = (n * ref_mean[c] + values.mean()) / (n + 1)
            meansq = (n * ref_meansq[c] + (values ** 2).mean()) / (n + 1)
            out[i, c] = (values - mean) / numpy.sqrt(meansq - mean ** 2 + eps) * weight[c] + bias[c]
    return out


def layer_with_parameters(layer_class, channels, rng, dtype=numpy.float64):
    layer = layer_class(channels, dtype=dtype)
    layer.weight.data = rng.uniform(0.5, 1.5, channels).astype(dtype)
    layer.bias.data = rng.uniform(-0.5, 0.5, channels).astype(dtype)
    return layer


# -- values ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("layer_class, ref_shape, shape", CASES, ids=CASE_IDS)
def test_per_example_pass_matches_the_formula_written_in_numpy(layer_class, ref_shape, shape, rng):
    layer = layer_with_parameters(layer_class, shape[1], rng)
    x_ref, x = rng.standard_normal(ref_shape), rng.standard_normal(shape)
    layer.reference(sg.Tensor(x_ref))
    expected = vbn_reference_numpy(x, x_ref, layer.weight.numpy(), layer.bias.numpy())
    numpy.testing.assert_allclose(layer(sg.Tensor(x)).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_per_example_pass_on_a_hand_case():
    # one channel, reference [0, 2] (n = 2, mean 1, meansq 2), example [4]:
    # mean = (2 * 1 + 4) / 3 = 2, meansq = (2 * 2 + 16) / 3 = 20 / 3, var = 8 / 3
    layer = nn.VirtualBatchNorm1d(1, eps=0.0, dtype=numpy.float64)
    layer.reference(sg.Tensor(numpy.array([[0.0], [2.0]])))
    out = layer(sg.Tensor(numpy.array([[4.0]])))
    numpy.testing.assert_allclose(out.numpy(), [[(4.0 - 2.0) / numpy.sqrt(8.0 / 3.0)]], rtol=1e-15)


def test_an_example_output_does_not_depend_on_the_other_examples_of_its_batch(rng):
    layer = layer_with_parameters(nn.VirtualBatchNorm2d, 3, rng)
    layer.reference(sg.Tensor(rng.standard_normal((4, 3, 2, 3))))
    x = rng.standard_normal((3, 3, 2, 3))
    changed = x.copy()
    changed[1:] = 10 * rng.standard_normal((2, 3, 2, 3)) + 5
    out, out_changed = layer(sg.Tensor(x)).numpy(), layer(sg.Tensor(changed)).numpy()
    numpy.testing.assert_array_equal(out[0], out_changed[0])
    alone = layer(sg.Tensor(x[:1])).numpy()
    numpy.testing.assert_allclose(alone[0], out[0], rtol=1e-14, atol=1e-14)


def test_reference_pass_equals_batch_norm_2d_in_training_mode(rng):
    vbn = layer_with_parameters(nn.VirtualBatchNorm2d, 3, rng)
    bn = nn.BatchNorm2d(3, dtype=numpy.float64).train()
    bn.load_state_dict({**bn.state_dict(), **vbn.state_dict()})
    x_ref = rng.standard_normal((4, 3, 2, 3))
    numpy.testing.assert_allclose(vbn.reference(sg.Tensor(x_ref)).numpy(), bn(sg.Tensor(x_ref)).numpy(),
                                  rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no affine"])
def test_eval_mode_computes_what_train_mode_does(affine, rng):
    layer = nn.VirtualBatchNorm2d(2, affine=affine, dtype=numpy.float64)
    x_ref, x = sg.Tensor(rng.standard_normal((3, 2, 2, 2))), sg.Tensor(rng.standard_normal((2, 2, 2, 2)))
    trained = layer.train().reference(x_ref).numpy(), layer(x).numpy()
    evaluated = layer.eval().reference(x_ref).numpy(), layer(x).numpy()
    numpy.testing.assert_array_equal(trained[0], evaluated[0])
    numpy.testing.assert_array_equal(trained[1], evaluated[1])


def test_state_dict_holds_gamma_and_beta_only():
    assert list(nn.VirtualBatchNorm2d(4).state_dict()) == ["weight", "bias"]
    assert list(nn.VirtualBatchNorm1d(4, affine=False).state_dict()) == []
    assert list(nn.VirtualBatchNorm2d(4).buffers()) == []


@DTYPES
def test_dtype_is_kept_through_both_passes_and_their_gradients(dtype, rng):
    layer = nn.VirtualBatchNorm2d(2, dtype=dtype)
    x_ref = sg.Tensor(rng.standard_normal((3, 2, 2, 2)).astype(dtype), requires_grad=True)
    x = sg.Tensor(rng.standard_normal((2, 2, 2, 2)).astype(dtype), requires_grad=True)
    y_ref, y = layer.reference(x_ref), layer(x)
    (y_ref.sum() + (y * y).sum()).backward()
    for tensor in (y_ref, y, x_ref.grad, x.grad, layer.weight.grad, layer.bias.grad):
        assert tensor.dtype == dtype


# -- a model: the reference pass through every layer -------------------------------------------------
def tiny_generator():
    return nn.Sequential(nn.Linear(2, 3), nn.VirtualBatchNorm1d(3), nn.Tanh(),
                         nn.Linear(3, 2), nn.VirtualBatchNorm1d(2)).double()


def test_reference_batch_block_puts_every_layer_of_a_model_in_reference_mode_then_restores(rng):
    model = tiny_generator()
    z_ref, z = sg.Tensor(rng.standard_normal((4, 2))), sg.Tensor(rng.standard_normal((3, 2)))
    with nn.reference_batch(model):
        ref_out = model(z_ref)
    by_hand = model[4].reference(model[3](model[2](model[1].reference(model[0](z_ref)))))
    numpy.testing.assert_array_equal(ref_out.numpy(), by_hand.numpy())
    # after the block the layers normalise per example again: the same batch comes out differently
    assert not numpy.allclose(model(z_ref).numpy(), ref_out.numpy())
    assert model(z).shape == (3, 2)


def test_reference_batch_block_restores_per_example_mode_after_an_error(rng):
    model = tiny_generator()
    with pytest.raises(ValueError):
        with nn.reference_batch(model):
            model(sg.Tensor(rng.standard_normal((4, 5))))  # wrong width for Linear(2, 3)
    # nothing was left in reference mode: a per-example call still needs a reference
    with pytest.raises(ValueError, match="no reference batch"):
        model(sg.Tensor(rng.standard_normal((4, 2))))


@ORDERS
def test_model_gradients_flow_through_the_reference_pass_and_match_finite_differences(check, rng):
    model = tiny_generator()
    for parameter in model.parameters():
        parameter.data = rng.standard_normal(parameter.shape)
    z_ref, z = sg.Tensor(rng.standard_normal((4, 2))), sg.Tensor(rng.standard_normal((2, 2)))

    def fake_batch(*parameters):  # G's weights are used by both passes of a training step
        with nn.reference_batch(model):
            model(z_ref)
        return model(z)

    check(fake_batch, tuple(model.parameters()))


# -- derivatives ------------------------------------------------------------------------------------
@ORDERS
@pytest.mark.usefixtures("kernel_backend")
@given(case=st.sampled_from(CASES), affine=st.booleans(), data=st.data())
def test_both_passes_in_x_reference_gamma_and_beta_match_finite_differences(check, case, affine, data):
    layer_class, ref_shape, shape = case
    layer = layer_class(shape[1], affine=affine, dtype=numpy.float64)
    for name, parameter in layer.named_parameters():
        parameter.data = data.draw(arrays(parameter.shape), label=name)
    (x_ref,) = data.draw(distinct_arrays([ref_shape]), label="x_ref")  # no zero reference variance
    x = data.draw(arrays(shape), label="x")

    def both_passes(x, x_ref, *parameters):
        return layer.reference(x_ref), layer(x)

    check(both_passes, (leaf(x), leaf(x_ref)) + tuple(layer.parameters()))


# -- PyTorch parity ---------------------------------------------------------------------------------
def torch_virtual_batch_norm(torch, x, x_ref, weight, bias, eps=1e-5):
    """The per-example pass in torch ops (PyTorch has no VBN layer)."""
    spatial = tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * len(spatial)
    n = x_ref.shape[0]
    ref_mean = x_ref.mean(dim=(0,) + spatial).reshape(shape)
    ref_meansq = (x_ref * x_ref).mean(dim=(0,) + spatial).reshape(shape)
    own_mean = x.mean(dim=spatial, keepdim=True) if spatial else x
    own_meansq = (x * x).mean(dim=spatial, keepdim=True) if spatial else x * x
    mean = (n * ref_mean + own_mean) / (n + 1)
    meansq = (n * ref_meansq + own_meansq) / (n + 1)
    return (x - mean) / torch.sqrt(meansq - mean * mean + eps) * weight.reshape(shape) + bias.reshape(shape)


def twin_inputs(torch, rng, layer_class, ref_shape, shape, dtype):
    """(scratchgan layer, its leaves [x_ref, x], torch leaves [x_ref, x, weight, bias]): same values, dtype."""
    layer = layer_with_parameters(layer_class, shape[1], rng, dtype)
    values = [rng.standard_normal(ref_shape).astype(dtype), rng.standard_normal(shape).astype(dtype)]
    ours = [sg.Tensor(v.copy(), requires_grad=True) for v in values]
    theirs = [torch.tensor(v, dtype=torch_dtype(torch, dtype), requires_grad=True)
              for v in values + [layer.weight.numpy(), layer.bias.numpy()]]
    return layer, ours, theirs


@DTYPES
@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("layer_class, ref_shape, shape", CASES, ids=CASE_IDS)
def test_reference_pass_matches_torch_batch_norm_in_training_mode(torch, layer_class, ref_shape, shape,
                                                                  dtype, rng):
    layer, (x_ref, _), (torch_ref, _, weight, bias) = twin_inputs(
        torch, rng, layer_class, ref_shape, shape, dtype)
    cotangent = rng.standard_normal(ref_shape).astype(dtype)
    ours = layer.reference(x_ref)
    theirs = torch.nn.functional.batch_norm(torch_ref, None, None, weight, bias, training=True, eps=1e-5)
    ours.backward(sg.Tensor(cotangent))
    theirs.backward(torch.tensor(cotangent))
    assert_parity(ours, theirs, dtype, "reference output")
    assert_parity(x_ref.grad, torch_ref.grad, dtype, "grad x_ref")
    assert_parity(layer.weight.grad, weight.grad, dtype, "grad weight")
    assert_parity(layer.bias.grad, bias.grad, dtype, "grad bias")


@DTYPES
@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("layer_class, ref_shape, shape", CASES, ids=CASE_IDS)
def test_per_example_pass_matches_the_formula_in_torch_value_and_gradients(torch, layer_class, ref_shape,
                                                                           shape, dtype, rng):
    layer, (x_ref, x), (torch_ref, torch_x, weight, bias) = twin_inputs(
        torch, rng, layer_class, ref_shape, shape, dtype)
    cotangent = rng.standard_normal(shape).astype(dtype)
    layer.reference(x_ref)
    ours = layer(x)  # backward from the per-example output only: x_ref gets gradient through the statistics
    theirs = torch_virtual_batch_norm(torch, torch_x, torch_ref, weight, bias)
    ours.backward(sg.Tensor(cotangent))
    theirs.backward(torch.tensor(cotangent))
    assert_parity(ours, theirs, dtype, "output")
    for what, mine, torch_grad in [("grad x", x.grad, torch_x.grad),
                                   ("grad x_ref", x_ref.grad, torch_ref.grad),
                                   ("grad weight", layer.weight.grad, weight.grad),
                                   ("grad bias", layer.bias.grad, bias.grad)]:
        assert_parity(mine, torch_grad, dtype, what)
    assert numpy.abs(x_ref.grad.numpy()).max() > 0


# -- errors -----------------------------------------------------------------------------------------
def test_a_call_before_any_reference_pass_names_the_fix():
    with pytest.raises(ValueError) as info:
        nn.VirtualBatchNorm2d(3)(sg.zeros(2, 3, 4, 4))
    message = str(info.value)
    for fragment in ("VirtualBatchNorm2d(3)", "no reference batch", "layer.reference(x_ref)",
                     "scratchgan.nn.reference_batch(model)"):
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("call", ["reference", "per example"])
def test_wrong_channel_count_names_layer_expected_channels_and_shape(call, rng):
    layer = nn.VirtualBatchNorm2d(3)
    layer.reference(sg.Tensor(rng.standard_normal((4, 3, 2, 2)).astype(numpy.float32)))
    bad = sg.zeros(2, 4, 5, 5)
    with pytest.raises(ValueError) as info:
        layer.reference(bad) if call == "reference" else layer(bad)
    message = str(info.value)
    for fragment in ("VirtualBatchNorm2d(3)", "4-d", "3 channels", "(2, 4, 5, 5)"):
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_wrong_number_of_axes_names_the_expected_layout():
    with pytest.raises(ValueError, match=r"VirtualBatchNorm1d\(3\): expected a 2-d or 3-d input"):
        nn.VirtualBatchNorm1d(3).reference(sg.zeros(2, 3, 4, 4))


def test_a_reference_batch_of_one_value_per_channel_is_refused():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.VirtualBatchNorm1d(3).reference(sg.zeros(1, 3))


def test_reference_statistics_of_another_dtype_ask_for_a_new_reference_pass(rng):
    layer = nn.VirtualBatchNorm1d(2)
    layer.reference(sg.Tensor(rng.standard_normal((4, 2)).astype(numpy.float32)))
    layer.double()
    with pytest.raises(TypeError, match="forward the reference batch again"):
        layer(sg.Tensor(rng.standard_normal((3, 2))))


def test_reference_batch_on_a_model_without_virtual_batch_norm_is_refused():
    with pytest.raises(ValueError, match="reference_batch: Sequential has no VirtualBatchNorm1d/2d layer"):
        with nn.reference_batch(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))):
            pass
