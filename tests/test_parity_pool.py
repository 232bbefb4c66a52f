"""Pooling and resampling parity with PyTorch 2.13 (CPU): values, first and second derivatives.

Every case evaluates ours and PyTorch's functional form on the same array, backpropagates the
same random cotangent and compares the value and the input gradient, dtypes asserted: float64
to 1e-10, float32 to 1e-5 (``parity.assert_parity``). Second order: the gradient of
<u, d/dx <v, tanh(op(x))>> (a Hessian-vector product through the op) against
``torch.autograd.grad(..., create_graph=True)``. The rules are tested where PyTorch has one:
max-pool ties (the first maximum of the window takes the whole gradient) and NaN, ceil_mode
windows past the padded input, count_include_pad=False, divisor_override, the float32
source index of nearest interpolation, and 1 / scale_factor (not in / out) as its ratio.
Layers are compared with their torch twins, and bad arguments are refused as PyTorch does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy
import pytest

import scratchgan as sg
from parity import assert_parity, to_numpy, torch_dtype
from scratchgan import nn
from scratchgan.nn import functional as F

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("kernel_backend")]

DTYPES = (numpy.float64, numpy.float32)
DTYPE_IDS = ["float64", "float32"]


def normal(*shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


def with_ties(*shape, seed=0):
    """Small integers: most windows hold their maximum more than once."""
    return numpy.round(numpy.random.default_rng(seed).uniform(-2, 2, shape))


def with_nans(*shape, seed=0):
    x = normal(*shape, seed=seed)
    x.flat[[1, 5, 6, 17]] = numpy.nan  # two NaNs in one window of a 2 x 2 pooling of (., ., 4, 6)
    return x


@dataclass(frozen=True)
class Case:
    name: str
    ours: Callable     # (scratchgan Tensor) -> Tensor
    theirs: Callable   # (torch, torch tensor) -> tensor
    input: Callable    # () -> a float64 array (cast to the tested dtype)


def _max_pool(**options):
    return (lambda x: F.max_pool2d(x, **options),
            lambda torch, x: torch.nn.functional.max_pool2d(x, **options))


def _avg_pool(**options):
    return (lambda x: F.avg_pool2d(x, **options),
            lambda torch, x: torch.nn.functional.avg_pool2d(x, **options))


def _interpolate(**options):
    return (lambda x: F.interpolate(x, **options),
            lambda torch, x: torch.nn.functional.interpolate(x, **options))


MAX_POOL_OPTIONS = [  # (name, keyword arguments, input)
    ("max 2", dict(kernel_size=2), lambda: normal(2, 3, 6, 5)),
    ("max 2 with ties", dict(kernel_size=2), lambda: with_ties(2, 3, 6, 5)),
    ("max 3 stride 1 overlapping ties", dict(kernel_size=3, stride=1), lambda: with_ties(2, 2, 5, 6)),
    ("max 3 stride 2 padding 1", dict(kernel_size=3, stride=2, padding=1), lambda: normal(2, 3, 7, 6)),
    ("max 3 stride 2 padding 1 ties ceil_mode", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
     lambda: with_ties(2, 3, 6, 6)),
    ("max 2 stride 3 padding 1 ceil_mode", dict(kernel_size=2, stride=3, padding=1, ceil_mode=True),
     lambda: normal(1, 2, 7, 5)),
    ("max (2, 3) dilation (2, 1) padding (1, 1) ties",
     dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1)), lambda: with_ties(2, 2, 6, 6)),
    ("max 3 dilation 2 ceil_mode", dict(kernel_size=3, stride=2, dilation=2, ceil_mode=True),
     lambda: normal(2, 2, 6, 7)),
    ("max (C, H, W) input", dict(kernel_size=2, stride=1), lambda: with_ties(3, 4, 5)),
    ("max with NaN", dict(kernel_size=2), lambda: with_nans(1, 2, 4, 6)),  # (indices only: see its own test)
]
MAX_POOL_CASES = [Case(name, *_max_pool(**options), make) for name, options, make in MAX_POOL_OPTIONS
                  if "NaN" not in name]

AVG_POOL_CASES = [
    Case("avg 2", *_avg_pool(kernel_size=2), lambda: normal(2, 3, 6, 5)),
    Case("avg 3 stride 2 padding 1", *_avg_pool(kernel_size=3, stride=2, padding=1), lambda: normal(2, 3, 7, 6)),
    Case("avg 3 stride 2 padding 1 count_include_pad=False",
         *_avg_pool(kernel_size=3, stride=2, padding=1, count_include_pad=False), lambda: normal(2, 3, 7, 6)),
    Case("avg 3 stride 2 padding 1 ceil_mode", *_avg_pool(kernel_size=3, stride=2, padding=1, ceil_mode=True),
         lambda: normal(2, 2, 6, 6)),
    Case("avg 3 stride 2 padding 1 ceil_mode count_include_pad=False",
         *_avg_pool(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
         lambda: normal(2, 2, 6, 6)),
    Case("avg 2 stride 3 padding 1 ceil_mode", *_avg_pool(kernel_size=2, stride=3, padding=1, ceil_mode=True),
         lambda: normal(1, 2, 7, 5)),
    Case("avg (2, 3) stride (1, 2) divisor_override=5",
         *_avg_pool(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), divisor_override=5),
         lambda: normal(2, 2, 5, 6)),
    Case("avg 3 ceil_mode divisor_override=-2",
         *_avg_pool(kernel_size=3, stride=2, ceil_mode=True, divisor_override=-2), lambda: normal(1, 2, 6, 6)),
    Case("avg (C, H, W) input", *_avg_pool(kernel_size=2, stride=1, padding=1), lambda: normal(3, 4, 5)),
]

INTERPOLATE_CASES = [
    Case("nearest x2", *_interpolate(scale_factor=2), lambda: normal(2, 3, 3, 4)),
    Case("nearest x (3, 2)", *_interpolate(scale_factor=(3, 2)), lambda: normal(2, 2, 3, 4)),
    Case("nearest to (5, 7)", *_interpolate(size=(5, 7)), lambda: normal(2, 2, 3, 4)),
    Case("nearest down to (2, 3)", *_interpolate(size=(2, 3)), lambda: normal(2, 2, 5, 6)),
    Case("nearest x1.7 (ratio 1 / 1.7, not in / out)", *_interpolate(scale_factor=1.7), lambda: normal(2, 2, 5, 6)),
    Case("nearest x (0.6, 2.5)", *_interpolate(scale_factor=(0.6, 2.5)), lambda: normal(2, 2, 6, 3)),
    Case("nearest 2 -> 82 (float32 source index)", *_interpolate(size=(3, 82)), lambda: normal(1, 2, 2, 2)),
    Case("nearest size=5", *_interpolate(size=5), lambda: normal(1, 2, 3, 4)),
]
for align_corners in (False, True):
    INTERPOLATE_CASES += [
        Case(f"bilinear up to (6, 7) align_corners={align_corners}",
             *_interpolate(size=(6, 7), mode="bilinear", align_corners=align_corners), lambda: normal(2, 2, 3, 4)),
        Case(f"bilinear down to (3, 2) align_corners={align_corners}",
             *_interpolate(size=(3, 2), mode="bilinear", align_corners=align_corners), lambda: normal(2, 2, 5, 6)),
        Case(f"bilinear to (1, 5) align_corners={align_corners}",
             *_interpolate(size=(1, 5), mode="bilinear", align_corners=align_corners), lambda: normal(2, 2, 4, 1)),
        Case(f"bilinear x (1.7, 0.6) align_corners={align_corners}",
             *_interpolate(scale_factor=(1.7, 0.6), mode="bilinear", align_corners=align_corners),
             lambda: normal(2, 2, 4, 6)),
        Case(f"bilinear x2 align_corners={align_corners}",
             *_interpolate(scale_factor=2, mode="bilinear", align_corners=align_corners), lambda: normal(2, 2, 3, 4)),
    ]
INTERPOLATE_CASES.append(Case("bilinear align_corners=None", *_interpolate(size=(5, 3), mode="bilinear"),
                              lambda: normal(1, 2, 3, 4)))

SHUFFLE_CASES = [
    Case("pixel_shuffle 2", lambda x: F.pixel_shuffle(x, 2), lambda torch, x: torch.nn.functional.pixel_shuffle(x, 2),
         lambda: normal(2, 8, 3, 2)),
    Case("pixel_shuffle 3 of (C, H, W)", lambda x: F.pixel_shuffle(x, 3),
         lambda torch, x: torch.nn.functional.pixel_shuffle(x, 3), lambda: normal(9, 2, 2)),
    Case("pixel_shuffle 2 of 5-d", lambda x: F.pixel_shuffle(x, 2),
         lambda torch, x: torch.nn.functional.pixel_shuffle(x, 2), lambda: normal(2, 1, 4, 2, 3)),
    Case("pixel_unshuffle 2", lambda x: F.pixel_unshuffle(x, 2),
         lambda torch, x: torch.nn.functional.pixel_unshuffle(x, 2), lambda: normal(2, 3, 4, 6)),
    Case("pixel_unshuffle 3 of (C, H, W)", lambda x: F.pixel_unshuffle(x, 3),
         lambda torch, x: torch.nn.functional.pixel_unshuffle(x, 3), lambda: normal(2, 3, 6)),
]

CASES = MAX_POOL_CASES + AVG_POOL_CASES + INTERPOLATE_CASES + SHUFFLE_CASES


def _ids(cases):
    return [case.name for case in cases]


def compare(torch, case, dtype, seed=0):
    """The value and the input gradient of ``case`` for one random cotangent, ours against torch."""
    array = case.input().astype(dtype)
    x, torch_x = sg.Tensor(array.copy(), requires_grad=True), torch.tensor(array, requires_grad=True)
    ours, theirs = case.ours(x), case.theirs(torch, torch_x)
    assert_parity(ours, theirs, dtype, f"{case.name} value")
    cotangent = numpy.random.default_rng(seed + 100).standard_normal(tuple(theirs.shape)).astype(dtype)
    (grad,) = sg.grad(ours, x, grad_outputs=sg.Tensor(cotangent))
    (torch_grad,) = torch.autograd.grad(theirs, torch_x, grad_outputs=torch.tensor(cotangent))
    assert_parity(grad, torch_grad, dtype, f"{case.name} gradient")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_value_and_gradient_match_torch(torch, case, dtype):
    compare(torch, case, dtype)


def _curvature(ours_op, x, v, u, grad, tanh):
    """<u, d/dx <v, tanh(op(x))>>: differentiating it in x is a Hessian-vector product through op."""
    (gx,) = grad((tanh(ours_op(x)) * v).sum(), x)
    return (gx * u).sum()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_gradient_of_a_first_order_gradient_matches_torch_create_graph(torch, case, dtype):
    array = case.input().astype(dtype)
    x, torch_x = sg.Tensor(array.copy(), requires_grad=True), torch.tensor(array, requires_grad=True)
    rng = numpy.random.default_rng(7)
    v = rng.standard_normal(tuple(case.theirs(torch, torch_x).shape)).astype(dtype)
    u = rng.standard_normal(array.shape).astype(dtype)
    ours = _curvature(case.ours, x, sg.Tensor(v), sg.Tensor(u),
                      lambda y, x: sg.grad(y, x, create_graph=True), sg.tanh)
    theirs = _curvature(lambda t: case.theirs(torch, t), torch_x, torch.tensor(v), torch.tensor(u),
                        lambda y, x: torch.autograd.grad(y, x, create_graph=True), torch.tanh)
    (second,) = sg.grad(ours, x)
    (torch_second,) = torch.autograd.grad(theirs, torch_x)
    assert_parity(ours, theirs, dtype, f"{case.name} first-order contraction")
    assert_parity(second, torch_second, dtype, f"{case.name} second order")


# -- max pooling's indices ------------------------------------------------------------------------
@pytest.mark.parametrize("name, options, make", MAX_POOL_OPTIONS, ids=[m[0] for m in MAX_POOL_OPTIONS])
def test_max_pool2d_return_indices_are_torch_indices(torch, name, options, make):
    """Ties: the first maximum in row-major window order; NaN: the last NaN of the window."""
    array = make()
    _, indices = F.max_pool2d(sg.Tensor(array), **options, return_indices=True)
    _, torch_indices = torch.nn.functional.max_pool2d(torch.tensor(array), **options, return_indices=True)
    assert indices.dtype == numpy.int64
    numpy.testing.assert_array_equal(indices.numpy(), torch_indices.numpy())


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_max_pool2d_propagates_nan_and_its_gradient_like_torch(torch, dtype):
    """A window holding a NaN outputs NaN, and its gradient goes to that (the last) NaN."""
    array = with_nans(1, 2, 4, 6).astype(dtype)
    x, torch_x = sg.Tensor(array.copy(), requires_grad=True), torch.tensor(array, requires_grad=True)
    ours, theirs = F.max_pool2d(x, 2), torch.nn.functional.max_pool2d(torch_x, 2)
    assert ours.dtype == dtype
    numpy.testing.assert_array_equal(ours.numpy(), to_numpy(theirs))  # NaN where torch has NaN
    cotangent = normal(*theirs.shape, seed=5).astype(dtype)
    ours.backward(sg.Tensor(cotangent))
    theirs.backward(torch.tensor(cotangent))
    assert_parity(x.grad, torch_x.grad, dtype, "gradient")


def test_max_pool2d_gives_a_tied_window_gradient_to_its_first_maximum_only():
    x = sg.Tensor(numpy.ones((1, 1, 2, 4)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [[[[1, 0, 1, 0], [0, 0, 0, 0]]]])


# -- layers -------------------------------------------------------------------------------------
LAYERS = [
    ("MaxPool2d(3, 2, 1, ceil_mode=True)", lambda nn: nn.MaxPool2d(3, 2, 1, ceil_mode=True), with_ties(2, 2, 6, 6)),
    ("MaxPool2d(2, dilation=2)", lambda nn: nn.MaxPool2d(2, 1, dilation=2), normal(2, 2, 5, 5)),
    ("AvgPool2d(3, 2, 1, True, False)", lambda nn: nn.AvgPool2d(3, 2, 1, True, False), normal(2, 2, 6, 6)),
    ("AvgPool2d(2, divisor_override=3)", lambda nn: nn.AvgPool2d(2, divisor_override=3), normal(2, 2, 4, 6)),
    ("Upsample(size=(5, 7), bilinear)", lambda nn: nn.Upsample(size=(5, 7), mode="bilinear"), normal(2, 2, 3, 4)),
    ("Upsample(x1.5, bilinear, align_corners)",
     lambda nn: nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True), normal(2, 2, 3, 4)),
    ("Upsample(x (2, 1.5))", lambda nn: nn.Upsample(scale_factor=(2, 1.5)), normal(2, 2, 3, 4)),
    ("PixelShuffle(2)", lambda nn: nn.PixelShuffle(2), normal(2, 8, 2, 3)),
    ("PixelUnshuffle(2)", lambda nn: nn.PixelUnshuffle(2), normal(2, 2, 4, 6)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name, build, array", LAYERS, ids=[layer[0] for layer in LAYERS])
def test_layer_output_and_input_gradient_match_torch(torch, name, build, array, dtype):
    array = array.astype(dtype)
    layer, torch_layer = build(nn), build(torch.nn).to(torch_dtype(torch, dtype))
    x, torch_x = sg.Tensor(array.copy(), requires_grad=True), torch.tensor(array, requires_grad=True)
    ours, theirs = layer(x), torch_layer(torch_x)
    cotangent = numpy.random.default_rng(3).standard_normal(tuple(theirs.shape)).astype(dtype)
    ours.backward(sg.Tensor(cotangent))
    theirs.backward(torch.tensor(cotangent))
    assert_parity(ours, theirs, dtype, f"{name} output")
    assert_parity(x.grad, torch_x.grad, dtype, f"{name} input gradient")


@pytest.mark.parametrize("name, build, array", LAYERS, ids=[layer[0] for layer in LAYERS])
def test_layer_repr_is_torch_repr(torch, name, build, array):
    assert repr(build(nn)) == repr(build(torch.nn))


def test_max_pool2d_layer_returns_indices_like_torch(torch):
    array = with_ties(2, 2, 5, 6)
    out, indices = nn.MaxPool2d(2, return_indices=True)(sg.Tensor(array))
    torch_out, torch_indices = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(array))
    assert_parity(out, torch_out, numpy.float64, "output")
    numpy.testing.assert_array_equal(indices.numpy(), to_numpy(torch_indices))


# -- refusals: the same bad arguments PyTorch refuses, with one message naming the op -------------
X = numpy.zeros((1, 4, 4, 4))
REFUSED = [  # (name, call on (functional module, x), our error, our message)
    ("max 2-d input", lambda f, x: f.max_pool2d(x[0, 0], 2),
     ValueError, r"max_pool2d: expected a 3-d .* got shape \(4, 4\)"),
    ("max kernel float", lambda f, x: f.max_pool2d(x, 2.0),
     TypeError, "max_pool2d: kernel_size must be an int or a pair"),
    ("max kernel 3 values", lambda f, x: f.max_pool2d(x, (2, 2, 2)),
     ValueError, "max_pool2d: kernel_size must be an int or a pair"),
    ("max kernel 0", lambda f, x: f.max_pool2d(x, 0),
     ValueError, "max_pool2d: kernel_size must be positive"),
    ("max stride 0", lambda f, x: f.max_pool2d(x, 2, 0),
     ValueError, "max_pool2d: stride must be positive"),
    ("max dilation 0", lambda f, x: f.max_pool2d(x, 2, dilation=0),
     ValueError, "max_pool2d: dilation must be positive"),
    ("max padding -1", lambda f, x: f.max_pool2d(x, 2, padding=-1),
     ValueError, "max_pool2d: padding must be non-negative"),
    ("max padding > kernel / 2", lambda f, x: f.max_pool2d(x, 2, padding=2),
     ValueError, r"max_pool2d: padding \(2, 2\) must be at most half the kernel_size \(2, 2\)"),
    ("max output empty", lambda f, x: f.max_pool2d(x, 5),
     ValueError, r"max_pool2d: the output size \(0, 0\) is not positive"),
    ("avg padding > kernel / 2", lambda f, x: f.avg_pool2d(x, 3, padding=2),
     ValueError, r"avg_pool2d: padding \(2, 2\) must be at most half"),
    ("avg output empty", lambda f, x: f.avg_pool2d(x, (1, 5)),
     ValueError, r"avg_pool2d: the output size \(4, 0\)"),
    ("avg divisor 0", lambda f, x: f.avg_pool2d(x, 2, divisor_override=0),
     ValueError, "avg_pool2d: divisor_override must not be zero"),
    ("avg divisor float", lambda f, x: f.avg_pool2d(x, 2, divisor_override=1.5),
     TypeError, "avg_pool2d: divisor_override must be None or an int"),
    ("interpolate size and scale", lambda f, x: f.interpolate(x, size=2, scale_factor=2),
     ValueError, "interpolate: give only one of size and scale_factor"),
    ("interpolate neither", lambda f, x: f.interpolate(x),
     ValueError, "interpolate: give size or scale_factor, got neither"),
    ("interpolate unknown mode", lambda f, x: f.interpolate(x, size=2, mode="cubic"),
     ValueError, "interpolate: mode must be 'nearest' or 'bilinear', got 'cubic'"),
    ("interpolate align_corners with nearest", lambda f, x: f.interpolate(x, size=2, align_corners=False),
     ValueError, "interpolate: align_corners can only be set with mode='bilinear'"),
    ("interpolate size of 1 axis", lambda f, x: f.interpolate(x, size=(2,)),
     ValueError, "interpolate: size must have one value per spatial axis"),
    ("interpolate float size", lambda f, x: f.interpolate(x, size=(2, 2.0)),
     TypeError, "interpolate: size must be a number or a pair"),
    ("interpolate empty output", lambda f, x: f.interpolate(x, scale_factor=0.1),
     ValueError, r"interpolate: the output size must be positive, got \(0, 0\)"),
    ("interpolate 3-d bilinear", lambda f, x: f.interpolate(x[0], size=2, mode="bilinear"),
     ValueError, r"interpolate: expected a 4-d input \(N, C, H, W\), got shape \(4, 4, 4\)"),
    ("pixel_shuffle channels", lambda f, x: f.pixel_shuffle(x[:, :3], 2),
     ValueError, r"pixel_shuffle: the channel axis \(size 3\) must be divisible by upscale_factor\^2 = 4"),
    ("pixel_shuffle factor 0", lambda f, x: f.pixel_shuffle(x, 0),
     ValueError, "pixel_shuffle: upscale_factor must be a positive int"),
    ("pixel_shuffle float factor", lambda f, x: f.pixel_shuffle(x, 2.0),
     TypeError, "pixel_shuffle: upscale_factor must be a positive int"),
    ("pixel_shuffle 2-d", lambda f, x: f.pixel_shuffle(x[0, 0], 2),
     ValueError, "pixel_shuffle: expected an input of at least 3"),
    ("pixel_unshuffle height", lambda f, x: f.pixel_unshuffle(x[:, :, :3], 2),
     ValueError, "pixel_unshuffle: height and width must be divisible by downscale_factor 2"),
]


@pytest.mark.parametrize("call, error, message", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_bad_arguments_are_refused_with_one_message_like_torch(torch, call, error, message):
    with pytest.raises(error, match=message):
        call(F, sg.Tensor(X))
    with pytest.raises((ValueError, TypeError, RuntimeError, NotImplementedError)):
        call(torch.nn.functional, torch.tensor(X))


def test_max_pool2d_refuses_windows_of_padding_only_where_torch_writes_out_of_bounds():
    """kernel 2, dilation 3, padding 1 on a side of 2: the taps -1 and 2 both miss the input;
    PyTorch returns -inf with the index 2 W + w (outside the plane) and its backward writes there."""
    with pytest.raises(ValueError, match="max_pool2d: along H some windows read only padding"):
        F.max_pool2d(sg.Tensor(numpy.zeros((1, 1, 2, 4))), (2, 1), dilation=(3, 1), padding=(1, 0))


def test_layers_refuse_bad_arguments_when_built():
    with pytest.raises(ValueError, match="MaxPool2d: padding"):
        nn.MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match="AvgPool2d: stride must be positive"):
        nn.AvgPool2d(2, stride=0)
    with pytest.raises(ValueError, match="Upsample: align_corners can only be set with mode='bilinear'"):
        nn.Upsample(scale_factor=2, align_corners=True)
