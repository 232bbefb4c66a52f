"""Layer parity with PyTorch 2.13 (CPU): same weights, same inputs, same numbers.

Each case builds a layer with the same call in ``torch.nn`` and ``scratchgan.nn`` (the
constructor signatures are PyTorch's), loads the torch module's state dict into the
scratchgan twin, runs forward and a backward with a fixed random cotangent, and compares
the output, the input gradient and every parameter gradient. float64 is compared with
float64 to 1e-10 and float32 with float32 to 1e-5, and every dtype is asserted
(pitfalls 3 and 5 of STYLE.md).

"Relative" means: |ours - torch| <= rtol * (|torch| + max|torch|) element by element,
i.e. relative to each element with the array's scale as a floor, so that an element
that cancels to nearly zero is not held to an impossible relative bound.

``LAYER_CASES`` and ``layer_parity_pairs`` are also used by ``benchmarks/parity_report.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy
import pytest

import scratchgan as sg
from parity import RTOL, assert_parity, to_numpy, torch_dtype

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

DTYPES = (numpy.float64, numpy.float32)


# -- helpers -------------------------------------------------------------------------------


def load_torch_weights(sg_module, torch_module):
    sg_module.load_state_dict({k: v.detach().numpy() for k, v in torch_module.state_dict().items()})


def randomize_batchnorm_(torch, module):
    """BatchNorm starts at weight 1, bias 0, mean 0, var 1; move it off that trivial point."""
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm):
                sub.weight.uniform_(0.5, 1.5)
                sub.bias.uniform_(-0.5, 0.5)
                sub.running_mean.normal_(0.0, 0.3)
                sub.running_var.uniform_(0.5, 1.5)


def make_twins(torch, build, dtype):
    """(torch module, scratchgan module) built by the same call, same weights, same dtype."""
    torch_module = build(torch.nn).to(torch_dtype(torch, dtype))
    randomize_batchnorm_(torch, torch_module)
    sg_module = build(sg.nn).to(dtype=dtype)
    load_torch_weights(sg_module, torch_module)
    return torch_module, sg_module


def forward_backward_pairs(torch, torch_module, sg_module, x, cotangent):
    """[(quantity, ours, theirs)]: the output, the input gradient (float input), each param grad."""
    floating = x.dtype.kind == "f"
    torch_x = torch.tensor(x, requires_grad=floating)
    sg_x = sg.Tensor(x.copy(), requires_grad=floating)
    torch_module.zero_grad()
    sg_module.zero_grad()
    torch_out = torch_module(torch_x)
    sg_out = sg_module(sg_x)
    cotangent = cotangent(torch_out.shape) if callable(cotangent) else cotangent
    torch_out.backward(torch.tensor(cotangent))
    sg_out.backward(sg.Tensor(cotangent))
    pairs = [("output", sg_out, torch_out)]
    if floating:
        pairs.append(("grad input", sg_x.grad, torch_x.grad))
    sg_params = dict(sg_module.named_parameters())
    torch_params = dict(torch_module.named_parameters())
    assert list(sg_params) == list(torch_params), "parameter names differ"
    for name, param in torch_params.items():
        pairs.append((f"grad {name}", sg_params[name].grad, param.grad))
    return pairs


# -- the layer table ---------------------------------------------------------------------
@dataclass(frozen=True)
class LayerCase:
    name: str
    build: Callable  # nn namespace (torch.nn or scratchgan.nn) -> module
    input_shape: tuple
    index_high: int = 0  # > 0: integer indices in [0, index_high) instead of floats
    input_scale: float = 1.0


# A layer followed by batch norm has bias=False (as in PyTorch's DCGAN example): batch norm
# subtracts the batch mean, so that bias's gradient is zero in exact arithmetic and only
# rounding noise is left to compare (see test_bias_before_batchnorm_gets_no_gradient_like_torch).
def dcgan_generator(nn, z_dim=100, channels=128, bias_before_bn=False):
    """DCGAN-MNIST generator: z -> 1x28x28 in (-1, 1)."""
    return nn.Sequential(
        nn.Linear(z_dim, channels * 7 * 7, bias=bias_before_bn), nn.BatchNorm1d(channels * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (channels, 7, 7)),
        nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=bias_before_bn),
        nn.BatchNorm2d(channels // 2), nn.ReLU(),
        nn.ConvTranspose2d(channels // 2, 1, 4, 2, 1), nn.Tanh(),
    )


def dcgan_discriminator(nn, channels=64, bias_before_bn=False):
    """DCGAN-MNIST discriminator: 1x28x28 -> one logit."""
    return nn.Sequential(
        nn.Conv2d(1, channels, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(channels, 2 * channels, 4, 2, 1, bias=bias_before_bn),
        nn.BatchNorm2d(2 * channels), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * channels * 7 * 7, 1),
    )


LAYER_CASES = [
    LayerCase("Linear", lambda nn: nn.Linear(5, 3), (4, 5)),
    LayerCase("Linear no bias, 3-d input", lambda nn: nn.Linear(5, 3, bias=False), (2, 4, 5)),
    LayerCase("Conv2d k3", lambda nn: nn.Conv2d(3, 4, 3), (2, 3, 8, 8)),
    LayerCase("Conv2d k3 s2 p1", lambda nn: nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 9, 9)),
    LayerCase("Conv2d k(2,3) s(2,1) p(1,0) no bias",
              lambda nn: nn.Conv2d(3, 4, (2, 3), stride=(2, 1), padding=(1, 0), bias=False), (2, 3, 7, 8)),
    LayerCase("Conv2d k3 p2 d2", lambda nn: nn.Conv2d(3, 4, 3, padding=2, dilation=2), (2, 3, 8, 8)),
    LayerCase("Conv2d k(3,2) s(1,3) p(0,2) d(2,1)",
              lambda nn: nn.Conv2d(2, 3, (3, 2), stride=(1, 3), padding=(0, 2), dilation=(2, 1)),
              (2, 2, 9, 10)),
    LayerCase("Conv2d k4 s2 p1 (DCGAN)", lambda nn: nn.Conv2d(2, 3, 4, 2, 1), (2, 2, 10, 10)),
    LayerCase("ConvTranspose2d k3", lambda nn: nn.ConvTranspose2d(3, 4, 3), (2, 3, 5, 5)),
    LayerCase("ConvTranspose2d k4 s2 p1 (DCGAN)", lambda nn: nn.ConvTranspose2d(4, 3, 4, 2, 1), (2, 4, 5, 5)),
    LayerCase("ConvTranspose2d k3 s2 p1 op1",
              lambda nn: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), (2, 3, 4, 5)),
    LayerCase("ConvTranspose2d k(3,2) s(2,3) p(1,0) op(1,2) no bias",
              lambda nn: nn.ConvTranspose2d(3, 2, (3, 2), stride=(2, 3), padding=(1, 0),
                                            output_padding=(1, 2), bias=False), (2, 3, 4, 4)),
    LayerCase("ConvTranspose2d k3 s2 d2 op1",
              lambda nn: nn.ConvTranspose2d(3, 2, 3, stride=2, output_padding=1, dilation=2), (2, 3, 4, 4)),
    LayerCase("ConvTranspose2d k3 p2 d2", lambda nn: nn.ConvTranspose2d(2, 3, 3, padding=2, dilation=2),
              (2, 2, 6, 6)),
    LayerCase("BatchNorm1d (N, C)", lambda nn: nn.BatchNorm1d(5), (8, 5)),
    LayerCase("BatchNorm1d (N, C, L)", lambda nn: nn.BatchNorm1d(5), (4, 5, 6)),
    LayerCase("BatchNorm2d", lambda nn: nn.BatchNorm2d(3), (4, 3, 5, 5)),
    LayerCase("LeakyReLU(0.2)", lambda nn: nn.LeakyReLU(0.2), (4, 7)),
    LayerCase("LeakyReLU default slope", lambda nn: nn.LeakyReLU(), (4, 7)),
    LayerCase("ReLU", lambda nn: nn.ReLU(), (4, 7)),
    LayerCase("Tanh", lambda nn: nn.Tanh(), (4, 7), input_scale=2.0),
    LayerCase("Sigmoid", lambda nn: nn.Sigmoid(), (4, 7), input_scale=3.0),
    LayerCase("Softplus", lambda nn: nn.Softplus(), (4, 7), input_scale=3.0),
    LayerCase("Softplus beta=2", lambda nn: nn.Softplus(beta=2.0), (4, 7), input_scale=2.0),
    LayerCase("Embedding", lambda nn: nn.Embedding(10, 4), (3, 5), index_high=10),
    LayerCase("Flatten", lambda nn: nn.Flatten(), (2, 3, 4, 5)),
    LayerCase("Flatten(1, 2)", lambda nn: nn.Flatten(1, 2), (2, 3, 4, 5)),
    LayerCase("Unflatten", lambda nn: nn.Unflatten(1, (3, 4)), (2, 12, 5)),
    LayerCase("AvgPool2d(2)", lambda nn: nn.AvgPool2d(2), (2, 3, 6, 8)),
    LayerCase("AvgPool2d(3, 2, 1)", lambda nn: nn.AvgPool2d(3, stride=2, padding=1), (2, 3, 7, 6)),
    LayerCase("Upsample x2 nearest", lambda nn: nn.Upsample(scale_factor=2, mode="nearest"), (2, 3, 4, 5)),
    LayerCase("Sequential MLP", lambda nn: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)), (5, 6)),
    LayerCase("DCGAN-MNIST generator", dcgan_generator, (4, 100)),
    LayerCase("DCGAN-MNIST discriminator", dcgan_discriminator, (4, 1, 28, 28)),
]


def case_input(case, dtype, rng):
    if case.index_high:
        indices = rng.integers(0, case.index_high, size=case.input_shape)
        indices.flat[1] = indices.flat[0]  # a repeated index: its gradient rows must add up
        return indices.astype(numpy.int64)
    return (case.input_scale * rng.standard_normal(case.input_shape)).astype(dtype)


def layer_parity_pairs(torch, case, dtype, seed=0):
    """Build the twins of ``case`` in ``dtype`` (training mode) and return the compared pairs."""
    rng = numpy.random.default_rng(seed)
    torch_module, sg_module = make_twins(torch, case.build, dtype)
    x = case_input(case, dtype, rng)
    return forward_backward_pairs(
        torch, torch_module, sg_module, x,
        lambda shape: rng.standard_normal(tuple(shape)).astype(dtype))


# -- forward and backward of every layer ----------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("case", LAYER_CASES, ids=[c.name for c in LAYER_CASES])
def test_layer_output_and_gradients_match_torch(torch, case, dtype):
    for what, ours, theirs in layer_parity_pairs(torch, case, dtype):
        assert ours is not None, f"{case.name}: scratchgan has no {what}"
        assert_parity(ours, theirs, dtype, f"{case.name}: {what}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_dcgan_generator_feeds_discriminator_like_torch(torch, dtype):
    """G and D chained (a generator step's graph): D(G(z)) and the grads of both nets agree."""
    rng = numpy.random.default_rng(1)
    torch_g, sg_g = make_twins(torch, lambda nn: dcgan_generator(nn, channels=32), dtype)
    torch_d, sg_d = make_twins(torch, lambda nn: dcgan_discriminator(nn, channels=16), dtype)
    z = rng.standard_normal((4, 100)).astype(dtype)
    torch_logits = torch_d(torch_g(torch.tensor(z)))
    sg_logits = sg_d(sg_g(sg.Tensor(z)))
    torch.nn.functional.binary_cross_entropy_with_logits(torch_logits, torch.ones_like(torch_logits)).backward()
    sg.nn.functional.binary_cross_entropy_with_logits(sg_logits, numpy.ones(sg_logits.shape, dtype)).backward()
    assert_parity(sg_logits, torch_logits, dtype, "D(G(z))")
    for torch_net, sg_net, net in ((torch_g, sg_g, "G"), (torch_d, sg_d, "D")):
        sg_params = dict(sg_net.named_parameters())
        for name, param in torch_net.named_parameters():
            assert_parity(sg_params[name].grad, param.grad, dtype, f"{net} grad {name}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("build", [dcgan_generator, dcgan_discriminator], ids=["generator", "discriminator"])
def test_bias_before_batchnorm_gets_no_gradient_like_torch(torch, build, dtype):
    """With bias_before_bn=True the biases feeding batch norm have a zero gradient: both
    frameworks leave only rounding noise, far below the weight gradients' scale."""
    twins = make_twins(torch, lambda nn: build(nn, channels=16, bias_before_bn=True), dtype)
    shape = (4, 100) if build is dcgan_generator else (4, 1, 28, 28)
    rng = numpy.random.default_rng(8)
    x = rng.standard_normal(shape).astype(dtype)
    pairs = dict((what, (ours, theirs)) for what, ours, theirs in forward_backward_pairs(
        torch, *twins, x, lambda s: rng.standard_normal(tuple(s)).astype(dtype)))
    layers = list(twins[0])
    biases = [f"grad {i}.bias" for i, (layer, after) in enumerate(zip(layers, layers[1:]))
              if isinstance(after, torch.nn.modules.batchnorm._BatchNorm)]
    assert biases, "no bias feeds a batch norm"
    for what in biases:
        ours, theirs = (to_numpy(v) for v in pairs[what])
        weight_scale = numpy.abs(to_numpy(pairs[what.replace(".bias", ".weight")][1])).max()
        assert ours.dtype == theirs.dtype == numpy.dtype(dtype), what
        assert numpy.abs(ours).max() <= RTOL[numpy.dtype(dtype)] * weight_scale, what
        assert numpy.abs(theirs).max() <= RTOL[numpy.dtype(dtype)] * weight_scale, what


# -- batch norm: running statistics and evaluation mode ---------------------------------------
BATCHNORM_SHAPES = [("BatchNorm1d", (8, 5)), ("BatchNorm1d", (4, 5, 6)), ("BatchNorm2d", (4, 5, 3, 3))]
BATCHNORM_IDS = ["1d-(N,C)", "1d-(N,C,L)", "2d"]


def train_batchnorm_twins(torch, kind, shape, momentum, dtype, steps=3):
    """Three training steps on both; returns the twins and the per-step compared pairs."""
    rng = numpy.random.default_rng(2)
    torch_bn, sg_bn = make_twins(torch, lambda nn: getattr(nn, kind)(5, momentum=momentum), dtype)
    step_pairs = []
    for step in range(steps):
        x = (1.5 * rng.standard_normal(shape) + rng.standard_normal(5).reshape((1, 5) + (1,) * (len(shape) - 2)))
        x = x.astype(dtype)
        cotangent = rng.standard_normal(shape).astype(dtype)
        step_pairs.append(forward_backward_pairs(torch, torch_bn, sg_bn, x, cotangent))
    return torch_bn, sg_bn, step_pairs


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum0.1", "cumulative"])
@pytest.mark.parametrize("kind, shape", BATCHNORM_SHAPES, ids=BATCHNORM_IDS)
def test_batchnorm_training_steps_match_torch(torch, kind, shape, momentum, dtype):
    _, _, step_pairs = train_batchnorm_twins(torch, kind, shape, momentum, dtype)
    for step, pairs in enumerate(step_pairs):
        for what, ours, theirs in pairs:
            assert_parity(ours, theirs, dtype, f"{kind} step {step}: {what}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum0.1", "cumulative"])
@pytest.mark.parametrize("kind, shape", BATCHNORM_SHAPES, ids=BATCHNORM_IDS)
def test_batchnorm_running_stats_match_torch_after_three_steps(torch, kind, shape, momentum, dtype):
    torch_bn, sg_bn, _ = train_batchnorm_twins(torch, kind, shape, momentum, dtype)
    assert_parity(sg_bn.running_mean, torch_bn.running_mean, dtype, "running_mean")
    assert_parity(sg_bn.running_var, torch_bn.running_var, dtype, "running_var")
    tracked = sg_bn.num_batches_tracked.numpy()
    assert tracked.dtype == numpy.int64 and tracked.shape == ()
    assert int(tracked) == int(torch_bn.num_batches_tracked) == 3


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum0.1", "cumulative"])
@pytest.mark.parametrize("kind, shape", BATCHNORM_SHAPES, ids=BATCHNORM_IDS)
def test_batchnorm_eval_mode_matches_torch_after_training(torch, kind, shape, momentum, dtype):
    torch_bn, sg_bn, _ = train_batchnorm_twins(torch, kind, shape, momentum, dtype)
    torch_bn.eval()
    sg_bn.eval()
    rng = numpy.random.default_rng(3)
    x = (2.0 * rng.standard_normal(shape)).astype(dtype)
    cotangent = rng.standard_normal(shape).astype(dtype)
    for what, ours, theirs in forward_backward_pairs(torch, torch_bn, sg_bn, x, cotangent):
        assert_parity(ours, theirs, dtype, f"{kind} eval: {what}")
    assert int(sg_bn.num_batches_tracked.numpy()) == int(torch_bn.num_batches_tracked) == 3


# -- dropout (random masks differ between frameworks: compare the rule, not the mask) ----------
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_dropout_eval_mode_is_identity_like_torch(torch, dtype):
    x = numpy.random.default_rng(4).standard_normal((6, 7)).astype(dtype)
    torch_dropout, sg_dropout = torch.nn.Dropout(0.4).eval(), sg.nn.Dropout(0.4).eval()
    cotangent = numpy.random.default_rng(5).standard_normal((6, 7)).astype(dtype)
    for what, ours, theirs in forward_backward_pairs(torch, torch_dropout, sg_dropout, x, cotangent):
        assert_parity(ours, theirs, dtype, f"Dropout eval: {what}")
    numpy.testing.assert_array_equal(sg_dropout(sg.Tensor(x)).numpy(), x)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_train_mode_scales_kept_elements_and_keeps_one_minus_p_like_torch(torch, p, dtype):
    """Each output is 0 or x / (1 - p); the kept fraction is 1 - p within 5 standard deviations;
    the gradient is the same mask times 1 / (1 - p). Both frameworks follow this rule."""
    n = 40_000
    x = (1.0 + numpy.random.default_rng(6).random(n)).astype(dtype)  # no zeros: 0 means dropped
    sg.manual_seed(7)
    torch_x, sg_x = torch.tensor(x, requires_grad=True), sg.Tensor(x.copy(), requires_grad=True)
    torch_out = torch.nn.Dropout(p).train()(torch_x)
    sg_out = sg.nn.Dropout(p).train()(sg_x)
    torch_out.sum().backward()
    sg_out.sum().backward()
    rtol = RTOL[numpy.dtype(dtype)]
    for name, out, grad in (("scratchgan", sg_out, sg_x.grad), ("torch", torch_out, torch_x.grad)):
        out, grad = to_numpy(out), to_numpy(grad)
        assert out.dtype == grad.dtype == numpy.dtype(dtype), name
        kept = out != 0
        numpy.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=rtol, err_msg=name)
        numpy.testing.assert_allclose(grad, kept / (1 - p), rtol=rtol, err_msg=name)
        sigma = numpy.sqrt(p * (1 - p) / n)
        assert abs(kept.mean() - (1 - p)) < 5 * sigma, f"{name}: kept {kept.mean():.4f}, expected {1 - p}"


# -- state dicts -------------------------------------------------------------------------------
@pytest.mark.parametrize("build", [dcgan_generator, dcgan_discriminator], ids=["generator", "discriminator"])
def test_state_dict_keys_order_shapes_and_dtypes_match_torch(torch, build):
    torch_state = build(torch.nn).state_dict()
    sg_state = build(sg.nn).double().state_dict()
    assert list(sg_state) == list(torch_state)
    assert any(key.endswith("num_batches_tracked") for key in sg_state)
    for key, value in torch_state.items():
        assert sg_state[key].shape == tuple(value.shape), key
        expected = numpy.int64 if key.endswith("num_batches_tracked") else numpy.float64
        assert sg_state[key].dtype == expected, f"{key}: {sg_state[key].dtype}"
        assert value.numpy().dtype == expected, key


def test_load_state_dict_round_trips_every_value_including_num_batches_tracked(torch):
    torch_d = dcgan_discriminator(torch.nn, channels=8)
    randomize_batchnorm_(torch, torch_d)
    with torch.no_grad():
        torch_d[3].num_batches_tracked.fill_(17)
    sg_d = dcgan_discriminator(sg.nn, channels=8).double()
    load_torch_weights(sg_d, torch_d)
    for key, value in torch_d.state_dict().items():
        numpy.testing.assert_array_equal(sg_d.state_dict()[key], value.numpy(), err_msg=key)
    assert sg_d.state_dict()["3.num_batches_tracked"].dtype == numpy.int64


def test_load_state_dict_rejects_a_missing_key_like_torch(torch):
    torch_d, sg_d = dcgan_discriminator(torch.nn, channels=8), dcgan_discriminator(sg.nn, channels=8)
    state = {k: v.numpy() for k, v in torch_d.state_dict().items() if k != "3.running_var"}
    with pytest.raises(RuntimeError, match="Missing key"):
        torch_d.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    with pytest.raises(KeyError, match="3.running_var"):
        sg_d.load_state_dict(state)


def test_load_state_dict_rejects_an_unexpected_key_like_torch(torch):
    torch_d, sg_d = dcgan_discriminator(torch.nn, channels=8), dcgan_discriminator(sg.nn, channels=8)
    state = {k: v.numpy() for k, v in torch_d.state_dict().items()}
    state["9.weight"] = numpy.zeros(3)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        torch_d.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    with pytest.raises(KeyError, match="9.weight"):
        sg_d.load_state_dict(state)


def test_load_state_dict_rejects_a_wrong_shape_like_torch(torch):
    torch_d, sg_d = dcgan_discriminator(torch.nn, channels=8), dcgan_discriminator(sg.nn, channels=8)
    state = {k: v.numpy() for k, v in torch_d.state_dict().items()}
    state["0.weight"] = numpy.zeros((8, 1, 3, 3))
    with pytest.raises(RuntimeError, match="size mismatch"):
        torch_d.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    with pytest.raises(ValueError, match="0.weight"):
        sg_d.load_state_dict(state)
