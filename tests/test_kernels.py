"""Every Numba kernel against its NumPy twin (the readable reference in scratchgan.ops).

Shapes, strides, paddings, dilations, memory layouts and dtypes are drawn by Hypothesis;
channel counts cover both convolution layouts (channel-major below
``numba_cpu.FEW_CHANNELS`` channels, NHWC from there). Tolerances: float64 to 1e-12
relative (summation order differs), float32 to float32 rounding of the sums
(rtol 2e-5 with an absolute floor scaled to the values' magnitude).
"""

import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchgan as sg
from scratchgan.ops import conv, norm, pairwise
from scratchgan.ops.elementwise import leaky_relu_array, leaky_relu_grad_array
from scratchgan.optim.adam import adam_update_array
from tests.strategies import conv_geometries, laid_out

numba_cpu = pytest.importorskip("scratchgan.kernels.numba_cpu")

DTYPES = st.sampled_from([numpy.float32, numpy.float64])


def assert_twin(actual, expected, dtype, scale=1.0):
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if numpy.dtype(dtype) == numpy.float64:
        numpy.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * scale)
    else:
        numpy.testing.assert_allclose(actual, expected, rtol=2e-5, atol=2e-5 * scale)


def random_array(data, shape, dtype):
    seed = data.draw(st.integers(0, 2**16), label="seed")
    values = numpy.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return data.draw(laid_out(values)).astype(dtype, copy=False)


channel_counts = st.sampled_from([1, 2, 3, numba_cpu.FEW_CHANNELS - 1, numba_cpu.FEW_CHANNELS, 20])


@st.composite
def geometries(draw):
    geometry = draw(conv_geometries(max_batch=2, max_channels=1, max_side=6))
    return geometry, draw(channel_counts), draw(channel_counts)


@given(geometries(), DTYPES, st.data())
def test_conv2d_matches_numpy(case, dtype, data):
    geometry, c, o = case
    x = random_array(data, (geometry.batch, c) + geometry.size, dtype)
    w = random_array(data, (o, c) + geometry.kernel_size, dtype)
    options = (geometry.stride, geometry.padding, geometry.dilation)
    assert_twin(numba_cpu.conv2d(x, w, *options), conv.conv2d_array(x, w, *options), dtype, scale=c)


@given(geometries(), DTYPES, st.data())
def test_conv_transpose2d_matches_numpy(case, dtype, data):
    geometry, c, o = case
    y = random_array(data, (geometry.batch, o) + geometry.output_size, dtype)
    w = random_array(data, (o, c) + geometry.kernel_size, dtype)  # (in, out, kh, kw): in = o
    options = (geometry.stride, geometry.padding, geometry.output_padding, geometry.dilation)
    expected = conv.conv_transpose2d_array(y, w, *options)
    assert expected.shape == (geometry.batch, c) + geometry.size
    assert_twin(numba_cpu.conv_transpose2d(y, w, *options), expected, dtype, scale=o)


@given(geometries(), DTYPES, st.data())
def test_conv2d_weight_matches_numpy(case, dtype, data):
    geometry, c, o = case
    x = random_array(data, (geometry.batch, c) + geometry.size, dtype)
    gy = random_array(data, (geometry.batch, o) + geometry.output_size, dtype)
    options = (geometry.kernel_size, geometry.stride, geometry.padding, geometry.dilation)
    scale = geometry.batch * numpy.prod(geometry.output_size)
    assert_twin(numba_cpu.conv2d_weight(x, gy, *options), conv.conv2d_weight_array(x, gy, *options),
                dtype, scale=scale)


@given(geometries(), DTYPES, st.data())
def test_columns_kept_by_the_forward_give_the_weight_gradient(case, dtype, data):
    """conv2d_keeping_columns returns conv2d's output and (when one piece of columns was
    built) those columns; the weight gradient from them is conv2d_weight's."""
    geometry, c, o = case
    x = random_array(data, (geometry.batch, c) + geometry.size, dtype)
    w = random_array(data, (o, c) + geometry.kernel_size, dtype)
    gy = random_array(data, (geometry.batch, o) + geometry.output_size, dtype)
    options = (geometry.stride, geometry.padding, geometry.dilation)
    y, columns = numba_cpu.conv2d_keeping_columns(x, w, *options)
    numpy.testing.assert_array_equal(y, numba_cpu.conv2d(x, w, *options))
    assert columns is not None  # small: always kept
    dw = numba_cpu.conv2d_weight_from_columns(columns, x.shape, gy, geometry.kernel_size, *options)
    scale = geometry.batch * numpy.prod(geometry.output_size)
    assert_twin(dw, conv.conv2d_weight_array(x, gy, geometry.kernel_size, *options), dtype, scale=scale)


@given(st.integers(1, 3), st.sampled_from([1, 3, numba_cpu.FEW_CHANNELS, 40]),
       st.sampled_from([(32, 32), (30, 36), (64, 17), (5, 5)]), DTYPES)
def test_to_nhwc_is_the_transpose_in_every_path(n, c, size, dtype):
    """NumPy's copy below BLOCKED_PLANE pixels or FEW_CHANNELS channels, blocks above; a view of a
    channels-last array."""
    x = numpy.arange(n * c * size[0] * size[1], dtype=dtype).reshape((n, c) + size)
    expected = x.transpose(0, 2, 3, 1)
    numpy.testing.assert_array_equal(numba_cpu.to_nhwc(x), expected)
    assert numba_cpu.to_nhwc(x).flags.c_contiguous
    wide = numpy.zeros((n, 2 * c) + size, dtype=dtype)
    wide[:, ::2] = x
    strided = wide[:, ::2]  # not contiguous
    numpy.testing.assert_array_equal(numba_cpu.to_nhwc(strided), expected)
    nhwc = numpy.ascontiguousarray(expected)
    assert numpy.shares_memory(numba_cpu.to_nhwc(numba_cpu.nchw_view(nhwc)), nhwc)


def test_columns_are_kept_when_built_in_one_small_piece_else_the_nhwc_copy_of_x(monkeypatch):
    x = numpy.ones((4, 16, 6, 6), numpy.float32)
    w = numpy.ones((8, 16, 3, 3), numpy.float32)
    options = ((1, 1), (1, 1), (1, 1))
    assert numba_cpu.conv2d_keeping_columns(x, w, *options)[1].shape == (4 * 36, 9 * 16)
    monkeypatch.setattr(numba_cpu, "COLUMN_BYTES", 36 * 9 * 16 * 4)  # one image per slice
    kept = numba_cpu.conv2d_keeping_columns(x, w, *options)[1]  # the NHWC copy of x it made instead
    numpy.testing.assert_array_equal(kept, x.transpose(0, 2, 3, 1))
    gy = numpy.random.default_rng(0).standard_normal((4, 8, 6, 6)).astype(numpy.float32)
    numpy.testing.assert_allclose(numba_cpu.conv2d_weight_from_columns(kept, x.shape, gy, (3, 3), *options),
                                  numba_cpu.conv2d_weight(x, gy, (3, 3), *options), rtol=1e-6)
    with pytest.raises(ValueError, match="an NHWC input of shape"):
        numba_cpu.conv2d_weight_from_columns(kept[:, :5], x.shape, gy, (3, 3), *options)
    channels_last = numba_cpu.nchw_view(numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    assert numba_cpu.conv2d_keeping_columns(channels_last, w, *options)[1] is None  # its own NHWC view
    monkeypatch.undo()
    monkeypatch.setattr(numba_cpu, "KEEP_COLUMNS_BYTES", 4 * 36 * 9 * 16 * 4)  # not below the limit
    assert numba_cpu.conv2d_keeping_columns(x, w, *options)[1].shape == (4, 6, 6, 16)
    assert numba_cpu.conv2d_keeping_columns(channels_last, w, *options)[1] is None
    with pytest.raises(ValueError, match="conv2d_weight_from_columns: columns of shape"):
        numba_cpu.conv2d_weight_from_columns(numpy.ones((3, 3), numpy.float32), x.shape,
                                             numpy.ones((4, 8, 6, 6), numpy.float32), (3, 3), *options)


@given(geometries(), DTYPES, st.booleans(), st.data())
def test_conv2d_and_weight_give_conv2d_and_its_weight_gradient(case, dtype, sliced, data):
    """One build of x's columns for both products, in one piece or a batch slice at a time."""
    geometry, c, o = case
    x = random_array(data, (geometry.batch, c) + geometry.size, dtype)
    w = random_array(data, (o, c) + geometry.kernel_size, dtype)
    gy = random_array(data, (geometry.batch, o) + geometry.output_size, dtype)
    options = (geometry.stride, geometry.padding, geometry.dilation)
    row_bytes = numpy.prod(geometry.output_size) * numpy.prod(geometry.kernel_size) * c * dtype().itemsize
    with pytest.MonkeyPatch.context() as patch:
        if sliced:  # one image per slice
            patch.setattr(numba_cpu, "COLUMN_BYTES", int(row_bytes))
        y, dw = numba_cpu.conv2d_and_weight(x, w, gy, *options)
    assert_twin(y, conv.conv2d_array(x, w, *options), dtype, scale=c)
    scale = geometry.batch * numpy.prod(geometry.output_size)
    assert_twin(dw, conv.conv2d_weight_array(x, gy, geometry.kernel_size, *options), dtype, scale=scale)


def test_a_transposed_convolution_backward_builds_its_columns_once(restore_backend, monkeypatch):
    """Without create_graph, dx and dw of ConvTranspose2d come from conv2d_and_weight (one im2col
    of g per slice) and equal the two primitives' results; with it, they stay differentiable."""
    sg.set_backend("numba")
    rng = numpy.random.default_rng(0)
    x = sg.Tensor(rng.standard_normal((3, 20, 4, 4)), requires_grad=True)
    w = sg.Tensor(rng.standard_normal((20, 18, 4, 4)), requires_grad=True)
    g = rng.standard_normal((3, 18, 8, 8))
    monkeypatch.setattr(numba_cpu, "COLUMN_BYTES", 16 * 16 * 18 * 8)  # one image per slice
    builds = []
    im2col = numba_cpu.im2col_nhwc
    monkeypatch.setattr(numba_cpu, "im2col_nhwc", lambda *args: builds.append(1) or im2col(*args))
    sg.conv_transpose2d(x, w, stride=2, padding=1).backward(sg.Tensor(g))
    assert len(builds) == 3  # once per image, for dx and dw together
    dx, dw = sg.grad(sg.conv_transpose2d(x, w, stride=2, padding=1), [x, w], [sg.Tensor(g)],
                              create_graph=True)
    assert dx.requires_grad and dw.requires_grad
    numpy.testing.assert_allclose(x.grad.data, dx.data, rtol=1e-12)
    numpy.testing.assert_allclose(w.grad.data, dw.data, rtol=1e-12)


def test_a_conv2d_node_keeps_columns_only_when_its_weight_gradient_can_be_asked_for(restore_backend):
    sg.set_backend("numba")
    x = sg.Tensor(numpy.ones((2, 3, 5, 5), numpy.float32), requires_grad=True)
    w = sg.Tensor(numpy.ones((4, 3, 3, 3), numpy.float32), requires_grad=True)
    y = sg.conv2d(x, w)
    assert y._creator.columns.shape == (3 * 9, 2 * 9)  # channel-major: 3 input channels
    y.sum().backward()
    assert not hasattr(y._creator, "columns")  # released with the spent graph
    assert y._creator.name == "Conv2d"
    frozen = sg.conv2d(x, w.detach())
    assert getattr(frozen._creator, "columns", None) is None
    with sg.no_grad():
        assert sg.conv2d(x, w)._creator is None


batch_norm_shapes = st.one_of(
    st.tuples(st.integers(2, 5), st.integers(1, 6)),  # BatchNorm1d (N, C)
    st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4)),
).filter(lambda shape: numpy.prod(shape) // shape[1] > 1)


@given(batch_norm_shapes, DTYPES, st.data())
def test_batch_norm_train_matches_numpy(shape, dtype, data):
    x = random_array(data, shape, dtype) * 3 + 1
    weight, bias = random_array(data, shape[1:2], dtype), random_array(data, shape[1:2], dtype)
    for actual, expected in zip(numba_cpu.batch_norm_train(x, weight, bias, 1e-5),
                                norm.batch_norm_train_array(x, weight, bias, 1e-5)):
        assert_twin(actual, expected, dtype, scale=10)


@given(batch_norm_shapes, DTYPES, st.data())
def test_batch_norm_backward_matches_numpy(shape, dtype, data):
    x, g = random_array(data, shape, dtype), random_array(data, shape, dtype)
    weight = random_array(data, shape[1:2], dtype)
    _, mean, var = norm.batch_norm_train_array(x, weight, weight, 1e-5)
    invstd = (1 / numpy.sqrt(var + dtype(1e-5))).astype(dtype)
    count = numpy.prod(shape) // shape[1]
    for actual, expected in zip(numba_cpu.batch_norm_backward(g, x, weight, mean, invstd),
                                norm.batch_norm_backward_array(g, x, weight, mean, invstd)):
        assert_twin(actual, expected, dtype, scale=count)


elementwise_shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@given(elementwise_shapes, st.sampled_from([0.0, 0.01, 0.2, 1.5, -0.5]), DTYPES, st.data())
def test_leaky_relu_and_its_gradient_match_numpy(shape, slope, dtype, data):
    x, g = random_array(data, shape, dtype), random_array(data, shape, dtype)
    # elementwise: same operations in the same order, so equal to the last bit
    numpy.testing.assert_array_equal(numba_cpu.leaky_relu(x, slope), leaky_relu_array(x, slope))
    numpy.testing.assert_array_equal(numba_cpu.leaky_relu_grad(g, x, slope),
                                     leaky_relu_grad_array(g, x, slope))
    assert numba_cpu.leaky_relu(x, slope).dtype == dtype


@given(elementwise_shapes, DTYPES, st.integers(1, 50), st.data())
def test_adam_update_matches_numpy(shape, dtype, step, data):
    param, grad = random_array(data, shape, dtype), random_array(data, shape, dtype)
    exp_avg = random_array(data, shape, dtype) * dtype(0.1)
    exp_avg_sq = numpy.abs(random_array(data, shape, dtype)) * dtype(0.01)
    beta1, beta2, lr, eps = 0.5, 0.999, 2e-4, 1e-8
    scalars = (beta1, beta2, lr / (1 - beta1 ** step), (1 - beta2 ** step) ** 0.5, eps)
    expected = adam_update_array(param, grad, exp_avg, exp_avg_sq, *scalars)
    actual = numba_cpu.adam_update(param, grad, exp_avg.copy(), exp_avg_sq.copy(), *scalars)
    for a, e in zip(actual, expected):
        assert a.dtype == e.dtype
        numpy.testing.assert_allclose(a, e, rtol=4 * numpy.finfo(dtype).eps, atol=0)


def test_adam_update_keeps_the_moments_in_place():
    param = numpy.ones(4, numpy.float32)
    exp_avg, exp_avg_sq = numpy.zeros(4, numpy.float32), numpy.zeros(4, numpy.float32)
    _, new_avg, new_avg_sq = numba_cpu.adam_update(param, param, exp_avg, exp_avg_sq, 0.9, 0.999,
                                                   1e-3, 1.0, 1e-8)
    assert new_avg is exp_avg and new_avg_sq is exp_avg_sq
    assert exp_avg[0] == numpy.float32(0.1)


def test_adam_update_keeps_a_scalar_parameters_moments_scalar():
    """A 0-d parameter (the f-GAN demo's mean) keeps 0-d moments step after step, and its
    values are the NumPy twin's."""
    ours, theirs = ((numpy.ones(()), numpy.zeros(()), numpy.zeros(())) for _ in range(2))  # numba's moments
    # are updated in place, so the two start from arrays of their own
    for step in range(1, 3):
        grad = numpy.full((), 0.5 * step)
        ours = numba_cpu.adam_update(ours[0], grad, *ours[1:], 0.9, 0.999, 1e-3, 1.0, 1e-8)
        theirs = adam_update_array(theirs[0], grad, *theirs[1:], 0.9, 0.999, 1e-3, 1.0, 1e-8)
        for got, expected in zip(ours, theirs):
            assert got.shape == () and got == pytest.approx(float(expected), rel=1e-15)


def test_every_kernel_has_a_numpy_twin_tested_here():
    tested = {"conv2d", "conv_transpose2d", "conv2d_weight", "batch_norm_train",
              "batch_norm_backward", "leaky_relu", "leaky_relu_grad", "adam_update",
              "conv2d_keeping_columns", "conv2d_weight_from_columns", "conv2d_and_weight", "pairwise_l1", "pairwise_sign_contract",
              "pairwise_sign_dot", "pairwise_l1_closeness", "pairwise_l1_closeness_grad",
              "pairwise_l1_closeness_grad_backward"}
    assert set(numba_cpu.KERNELS) == tested


def test_a_training_step_on_numba_equals_numpy_to_float32_rounding():
    """Gradients of a DCGAN-shaped step on both backends: same numbers to float32 rounding."""
    results = {}
    for name in ("numpy", "numba"):
        sg.set_backend(name)
        try:
            sg.manual_seed(0)
            model = sg.nn.Sequential(
                sg.nn.Conv2d(1, 16, 4, 2, 1), sg.nn.LeakyReLU(0.2),
                sg.nn.Conv2d(16, 32, 4, 2, 1), sg.nn.BatchNorm2d(32), sg.nn.LeakyReLU(0.2),
                sg.nn.ConvTranspose2d(32, 16, 4, 2, 1), sg.nn.BatchNorm2d(16), sg.nn.ReLU(),
                sg.nn.ConvTranspose2d(16, 1, 4, 2, 1), sg.nn.Tanh())
            x = sg.Tensor(numpy.random.default_rng(0).standard_normal((4, 1, 16, 16)).astype(numpy.float32))
            (model(x) ** 2).mean().backward()
            results[name] = [p.grad.numpy() for p in model.parameters()]
        finally:
            sg.set_backend("numpy")
    # a global scale: a bias before batch norm has a gradient of exactly 0 in exact
    # arithmetic, so both backends give rounding noise there
    scale = max(numpy.abs(grad).max() for grad in results["numpy"])
    for reference, fast in zip(results["numpy"], results["numba"]):
        numpy.testing.assert_allclose(fast, reference, rtol=1e-4, atol=1e-6 * scale)


@given(geometries(), st.data())
def test_convolutions_in_batch_slices_match_numpy(case, data):
    """A column budget of one image's columns: every NHWC path runs slice by slice."""
    geometry, c, o = case
    c, o = max(c, numba_cpu.FEW_CHANNELS), max(o, numba_cpu.FEW_CHANNELS)
    batch = geometry.batch + 2
    x = random_array(data, (batch, c) + geometry.size, numpy.float64)
    w = random_array(data, (o, c) + geometry.kernel_size, numpy.float64)
    gy = random_array(data, (batch, o) + geometry.output_size, numpy.float64)
    options = (geometry.stride, geometry.padding, geometry.dilation)
    budget = numba_cpu.COLUMN_BYTES
    numba_cpu.COLUMN_BYTES = 1  # one image per slice
    try:
        actual = (numba_cpu.conv2d(x, w, *options),
                  numba_cpu.conv2d_weight(x, gy, geometry.kernel_size, *options),
                  numba_cpu.conv_transpose2d(gy, w, geometry.stride,
                                             geometry.padding, geometry.output_padding, geometry.dilation))
    finally:
        numba_cpu.COLUMN_BYTES = budget
    expected = (conv.conv2d_array(x, w, *options),
                conv.conv2d_weight_array(x, gy, geometry.kernel_size, *options),
                conv.conv_transpose2d_array(gy, w, geometry.stride,
                                            geometry.padding, geometry.output_padding, geometry.dilation))
    for a, e in zip(actual, expected):
        assert_twin(a, e, numpy.float64, scale=batch * c * o)


def test_warm_up_compiles_the_active_set_and_reports_its_seconds():
    from scratchgan import backend

    assert backend.warm_up() == 0.0  # numpy: nothing to compile
    sg.set_backend("numba")
    try:
        seconds = backend.warm_up()
    finally:
        sg.set_backend("numpy")
    assert isinstance(seconds, float) and seconds > 0.0


def test_warm_up_compiles_every_numba_kernel():
    """In a fresh process (here earlier tests have compiled most of them), so that no training
    step compiles one: every njit function of the set has a signature after warm_up()."""
    script = ("import numba, scratchgan as sg; sg.set_backend('numba'); "
              "from scratchgan.kernels import numba_cpu as k; k.warm_up(); "
              "print([n for n, f in vars(k).items() if isinstance(f, numba.core.registry.CPUDispatcher) "
              "and not f.signatures and n not in ('_sign', '_sign_contract_row')])")  # compiled into their callers
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def as_channels_last(array):
    """The same values with NHWC memory (PyTorch's channels_last), the layout the NHWC paths return."""
    return numpy.ascontiguousarray(array.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@given(geometries(), DTYPES, st.data())
def test_channels_last_inputs_give_the_numpy_results(case, dtype, data):
    """Convolutions return channels-last arrays that the next kernel reads without a copy;
    every 4-d kernel must give the reference's values for that layout, mixed with NCHW too."""
    geometry, c, o = case
    x = as_channels_last(random_array(data, (geometry.batch, c) + geometry.size, dtype))
    w = random_array(data, (o, c) + geometry.kernel_size, dtype)
    gy = random_array(data, (geometry.batch, o) + geometry.output_size, dtype)
    gy_last = as_channels_last(gy)
    options = (geometry.stride, geometry.padding, geometry.dilation)
    assert numba_cpu.channels_last(x) or min(x.shape[1], x.shape[2] * x.shape[3]) == 1
    assert_twin(numba_cpu.conv2d(x, w, *options), conv.conv2d_array(x, w, *options), dtype, scale=c)
    scale = geometry.batch * numpy.prod(geometry.output_size)
    for g in (gy, gy_last):
        assert_twin(numba_cpu.conv2d_weight(x, g, geometry.kernel_size, *options),
                    conv.conv2d_weight_array(x, g, geometry.kernel_size, *options), dtype, scale=scale)
        transposed = (geometry.stride, geometry.padding, geometry.output_padding, geometry.dilation)
        assert_twin(numba_cpu.conv_transpose2d(g, w, *transposed), conv.conv_transpose2d_array(g, w, *transposed),
                    dtype, scale=o)


@given(st.tuples(st.integers(2, 4), st.integers(1, 20), st.integers(1, 4), st.integers(1, 4)), DTYPES, st.data())
def test_batch_norm_and_leaky_relu_keep_a_channels_last_layout(shape, dtype, data):
    x = as_channels_last(random_array(data, shape, dtype) * 3 + 1)
    g = random_array(data, shape, dtype)
    weight, bias = random_array(data, shape[1:2], dtype), random_array(data, shape[1:2], dtype)
    for actual, expected in zip(numba_cpu.batch_norm_train(x, weight, bias, 1e-5),
                                norm.batch_norm_train_array(x, weight, bias, 1e-5)):
        assert_twin(actual, expected, dtype, scale=10)
    _, mean, var = norm.batch_norm_train_array(x, weight, bias, 1e-5)
    invstd = (1 / numpy.sqrt(var + dtype(1e-5))).astype(dtype)
    count = numpy.prod(shape) // shape[1]
    for gradient in (g, as_channels_last(g)):
        for actual, expected in zip(numba_cpu.batch_norm_backward(gradient, x, weight, mean, invstd),
                                    norm.batch_norm_backward_array(gradient, x, weight, mean, invstd)):
            assert_twin(actual, expected, dtype, scale=count)
        numpy.testing.assert_array_equal(numba_cpu.leaky_relu_grad(gradient, x, 0.2),
                                         leaky_relu_grad_array(gradient, x, 0.2))
    y = numba_cpu.leaky_relu(x, 0.2)
    numpy.testing.assert_array_equal(y, leaky_relu_array(x, 0.2))
    assert y.strides == x.strides, "an elementwise kernel keeps its input's layout"


def test_a_convolution_returns_channels_last_memory():
    x = numpy.ones((2, 16, 6, 6), numpy.float32)
    y = numba_cpu.conv2d(x, numpy.ones((32, 16, 3, 3), numpy.float32), (1, 1), (1, 1), (1, 1))
    assert y.shape == (2, 32, 6, 6) and numba_cpu.channels_last(y)
    numpy.testing.assert_array_equal(y, conv.conv2d_array(x, numpy.ones((32, 16, 3, 3), numpy.float32),
                                                         (1, 1), (1, 1), (1, 1)))


@given(st.data())
def test_passes_split_over_two_threads_give_the_one_thread_bits(data):
    """With SCRATCHGAN_NUMBA_SPLIT=1, large passes run in two halves on two threads (by batch, by
    channel, or by element): every element is computed as on one thread, bit for bit."""
    dtype = data.draw(DTYPES, label="dtype")
    x = as_channels_last(random_array(data, (4, 20, 6, 6), dtype))
    x_nchw = random_array(data, (4, 20, 6, 6), dtype)
    rows = random_array(data, (5, 20), dtype)
    w = random_array(data, (20, 20, 3, 3), dtype)
    ones = numpy.ones(20, dtype)
    calls = [
        lambda: numba_cpu.conv2d(x_nchw, w, (2, 2), (1, 1), (1, 1)),
        lambda: numba_cpu.conv_transpose2d(x, w, (2, 2), (1, 1), (1, 1), (1, 1)),
        lambda: numba_cpu.leaky_relu(x, 0.2),
        lambda: numba_cpu.leaky_relu_grad(x, x_nchw, 0.2),
        lambda: numba_cpu.adam_update(x_nchw, x_nchw, x_nchw.copy(), numpy.abs(x_nchw), 0.5, 0.9, 1e-3, 1.0, 1e-8)[0],
    ]
    for source in (x, x_nchw, rows):
        calls.append(lambda source=source: numba_cpu.batch_norm_train(source, ones, ones, 1e-5))
        calls.append(lambda source=source: numba_cpu.batch_norm_backward(source, source, ones, ones, ones))
    previous = numba_cpu.SPLIT, numba_cpu.SPLIT_BYTES
    try:
        for call in calls:
            numba_cpu.SPLIT = False
            one_thread = call()
            numba_cpu.SPLIT, numba_cpu.SPLIT_BYTES = True, 0  # every pass is split
            for expected, actual in zip(_arrays(one_thread), _arrays(call())):
                numpy.testing.assert_array_equal(actual, expected)
    finally:
        numba_cpu.SPLIT, numba_cpu.SPLIT_BYTES = previous


def _arrays(result):
    return result if isinstance(result, tuple) else (result,)


@settings(deadline=None)  # the first examples compile the kernels
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 5), st.sampled_from([numpy.float32, numpy.float64]),
       st.integers(0, 2**32 - 1))
def test_pairwise_kernels_equal_their_numpy_twins(groups, n, channels, dtype, seed):
    rng = numpy.random.default_rng(seed)
    m = rng.standard_normal((groups, n, channels)).astype(dtype)
    m[:, :, 0] = numpy.round(m[:, :, 0])  # ties: sign 0
    w, h, g = (rng.standard_normal(shape).astype(dtype) for shape in ((groups, n, n), m.shape, (groups, n)))
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == numpy.float32 else dict(rtol=1e-12, atol=1e-12)
    closeness, kernel = numba_cpu.pairwise_l1_closeness(m)
    expected_closeness, expected_kernel = pairwise.pairwise_l1_closeness_array(m)
    pairs = [(numba_cpu.pairwise_l1(m), pairwise.pairwise_l1_array(m)),
             (numba_cpu.pairwise_sign_contract(m, w), pairwise.pairwise_sign_contract_array(m, w)),
             (numba_cpu.pairwise_sign_dot(m, h), pairwise.pairwise_sign_dot_array(m, h)),
             (closeness, expected_closeness), (kernel, expected_kernel),
             (numba_cpu.pairwise_l1_closeness_grad(m, g, kernel),
              pairwise.pairwise_l1_closeness_grad_array(m, g, expected_kernel)),
             *zip(numba_cpu.pairwise_l1_closeness_grad_backward(m, g, kernel, h),
                  pairwise.pairwise_l1_closeness_grad_backward_array(m, g, expected_kernel, h))]
    for got, expected in pairs:
        assert got.dtype == expected.dtype == dtype and got.shape == expected.shape
        numpy.testing.assert_allclose(got, expected, **tolerance)


def test_the_kernel_set_refuses_another_import_name_whose_cache_entries_the_package_could_not_load():
    # from the repository root, kernels/ is importable as a top-level package too
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", "import kernels.numba_cpu"], cwd=root, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "import the Numba kernel set as scratchgan.kernels.numba_cpu, not as kernels.numba_cpu" in result.stderr
