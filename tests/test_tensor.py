"""Specification of ``Tensor``: construction, metadata, leaving the graph, dtypes, operators."""

import importlib.util

import numpy
import pytest

import scratchgan as sg

CUPY_INSTALLED = importlib.util.find_spec("cupy") is not None


def float32_leaf(values=(0.5, 1.5, 2.5)):
    return sg.Tensor(numpy.array(values, dtype=numpy.float32), requires_grad=True)


# -- construction ------------------------------------------------------------------------
def test_python_floats_become_float32():
    assert sg.Tensor(1.5).dtype == numpy.float32
    assert sg.Tensor([1.0, 2.0]).dtype == numpy.float32


def test_python_ints_become_int64():
    assert sg.Tensor(3).dtype == numpy.int64
    assert sg.Tensor([1, 2, 3]).dtype == numpy.int64


@pytest.mark.parametrize("dtype", [numpy.float16, numpy.float32, numpy.float64, numpy.int32, numpy.bool_])
def test_numpy_arrays_keep_their_dtype(dtype):
    assert sg.Tensor(numpy.zeros(3, dtype=dtype)).dtype == dtype


def test_explicit_dtype_overrides_the_default():
    assert sg.Tensor([1.0, 2.0], dtype=numpy.float64).dtype == numpy.float64


# -- metadata -------------------------------------------------------------------------------
def test_metadata_describes_the_array():
    array = numpy.arange(24, dtype=numpy.float64).reshape(2, 3, 4)
    t = sg.Tensor(array)
    assert t.data is array
    assert t.shape == (2, 3, 4)
    assert t.dtype == numpy.float64
    assert t.ndim == 3
    assert t.size == 24 and isinstance(t.size, int)


def test_numpy_returns_the_data_sharing_memory():
    array = numpy.ones(3)
    out = sg.Tensor(array).numpy()
    assert isinstance(out, numpy.ndarray)
    assert numpy.shares_memory(out, array)


def test_item_returns_a_python_number():
    value = sg.Tensor(numpy.array([[2.5]])).item()
    assert value == 2.5 and type(value) is float


def test_item_on_several_elements_raises():
    with pytest.raises(ValueError, match="item"):
        sg.Tensor([1.0, 2.0]).item()


def test_tolist_returns_nested_python_lists():
    assert sg.Tensor(numpy.array([[1, 2], [3, 4]])).tolist() == [[1, 2], [3, 4]]


# -- detach and requires_grad ---------------------------------------------------------------
def test_detach_shares_data_and_has_no_graph():
    x = float32_leaf()
    y = x * 2.0
    detached = y.detach()
    assert numpy.shares_memory(detached.data, y.data)
    assert not detached.requires_grad
    assert detached.is_leaf


def test_requires_grad_on_an_integer_tensor_raises_type_error():
    t = sg.Tensor([1, 2, 3])
    with pytest.raises(TypeError, match="floating"):
        t.requires_grad = True


def test_turning_off_requires_grad_on_a_non_leaf_raises():
    y = float32_leaf() * 2.0
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad = False


def test_requires_grad_setter_toggles_a_leaf():
    t = sg.Tensor([1.0, 2.0])
    t.requires_grad = True
    assert t.requires_grad
    t.requires_grad = False
    assert not t.requires_grad


# -- dtype and device conversion --------------------------------------------------------------
def test_to_dtype_casts():
    t = sg.Tensor([1.0, 2.0]).to(dtype=numpy.float64)
    assert t.dtype == numpy.float64
    numpy.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_to_same_dtype_returns_the_same_tensor():
    t = sg.Tensor([1.0, 2.0])
    assert t.to(dtype=numpy.float32) is t
    assert t.to("cpu") is t


def test_double_and_float_cast_both_ways():
    t = sg.Tensor([1.0, 2.0])
    assert t.double().dtype == numpy.float64
    assert t.double().float().dtype == numpy.float32


def test_double_is_differentiable_and_gradient_keeps_the_leaf_dtype():
    x = float32_leaf()
    (x.double() * 3.0).sum().backward()
    assert x.grad.dtype == numpy.float32
    numpy.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])


@pytest.mark.skipif(CUPY_INSTALLED, reason="cupy is installed; the missing-cupy error cannot occur")
def test_to_cuda_without_cupy_says_what_to_install():
    with pytest.raises(RuntimeError) as info:
        sg.Tensor([1.0]).to("cuda")
    message = str(info.value)
    assert "cupy" in message and "pip install" in message


def test_to_an_unknown_device_raises():
    with pytest.raises(ValueError, match="device"):
        sg.Tensor([1.0]).to("tpu")


# -- repr -----------------------------------------------------------------------------------------
def test_repr_shows_values_and_dtype():
    text = repr(sg.Tensor([1.0, 2.0]))
    assert text.startswith("Tensor(") and "1." in text and "2." in text and "float32" in text


def test_repr_shows_requires_grad_of_a_leaf_and_grad_fn_of_a_result():
    x = float32_leaf()
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=Mul" in repr(x * 2.0)


# -- comparisons -------------------------------------------------------------------------------
@pytest.mark.parametrize("compare", [
    lambda a, b: a < b, lambda a, b: a <= b, lambda a, b: a > b,
    lambda a, b: a >= b, lambda a, b: a == b, lambda a, b: a != b,
], ids=["lt", "le", "gt", "ge", "eq", "ne"])
def test_comparisons_return_bool_tensors_without_graph(compare):
    x = float32_leaf()
    result = compare(x, 1.5)
    assert isinstance(result, sg.Tensor)
    assert result.dtype == numpy.bool_
    assert not result.requires_grad and result.is_leaf
    numpy.testing.assert_array_equal(result.numpy(), compare(x.numpy(), 1.5))


def test_comparison_with_another_tensor_is_elementwise():
    a, b = sg.Tensor([1.0, 2.0, 3.0]), sg.Tensor([3.0, 2.0, 1.0])
    numpy.testing.assert_array_equal((a < b).numpy(), [True, False, False])


# -- reflected operators and NumPy operands ------------------------------------------------
@pytest.mark.parametrize("op, value, derivative", [
    (lambda c, x: c + x, lambda x: 2.0 + x, lambda x: numpy.ones_like(x)),
    (lambda c, x: c - x, lambda x: 2.0 - x, lambda x: -numpy.ones_like(x)),
    (lambda c, x: c * x, lambda x: 2.0 * x, lambda x: numpy.full_like(x, 2.0)),
    (lambda c, x: c / x, lambda x: 2.0 / x, lambda x: -2.0 / x ** 2),
    (lambda c, x: c ** x, lambda x: 2.0 ** x, lambda x: numpy.log(2.0) * 2.0 ** x),
], ids=["radd", "rsub", "rmul", "rtruediv", "rpow"])
def test_reflected_ops_with_python_scalars_give_values_and_gradients(op, value, derivative):
    x = sg.Tensor(numpy.array([0.5, 1.0, 2.0]), requires_grad=True)
    y = op(2.0, x)
    numpy.testing.assert_allclose(y.numpy(), value(x.numpy()), rtol=1e-12)
    y.sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), derivative(x.numpy()), rtol=1e-12)


BINARY_OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b, "matmul": lambda a, b: a @ b,
}


@pytest.mark.parametrize("name", list(BINARY_OPS))
def test_numpy_array_on_the_left_returns_a_tensor(name):
    op = BINARY_OPS[name]
    array = numpy.arange(1.0, 5.0).reshape(2, 2)
    x = sg.Tensor(numpy.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    result = op(array, x)
    assert isinstance(result, sg.Tensor)
    numpy.testing.assert_allclose(result.numpy(), op(array, x.numpy()))
    assert result.requires_grad


@pytest.mark.parametrize("name", list(BINARY_OPS))
def test_numpy_array_on_the_right_returns_a_tensor(name):
    op = BINARY_OPS[name]
    array = numpy.arange(1.0, 5.0).reshape(2, 2)
    x = sg.Tensor(numpy.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    result = op(x, array)
    assert isinstance(result, sg.Tensor)
    numpy.testing.assert_allclose(result.numpy(), op(x.numpy(), array))
    assert result.requires_grad


# -- float32 stays float32 -------------------------------------------------------------------
FLOAT32_OPS = {
    "add": lambda x: x + 0.1, "radd": lambda x: 0.1 + x, "sub": lambda x: x - 0.1,
    "rsub": lambda x: 1 - x, "mul": lambda x: x * 0.1, "rmul": lambda x: 3 * x,
    "div": lambda x: x / 3, "rdiv": lambda x: 1.0 / x, "pow": lambda x: x ** 3,
    "pow_fraction": lambda x: x ** 0.5, "rpow": lambda x: 2.0 ** x, "neg": lambda x: -x,
    "exp": lambda x: x.exp(), "log": lambda x: x.log(), "log1p": lambda x: x.log1p(),
    "sqrt": lambda x: x.sqrt(), "abs": lambda x: x.abs(), "clip": lambda x: x.clip(0.6, 2.0),
    "maximum": lambda x: x.maximum(1.0), "minimum": lambda x: x.minimum(1.0),
    "sigmoid": lambda x: x.sigmoid(), "tanh": lambda x: x.tanh(), "relu": lambda x: x.relu(),
    "leaky_relu": lambda x: x.leaky_relu(0.2), "softplus": lambda x: x.softplus(),
    "log_sigmoid": lambda x: x.log_sigmoid(), "sum": lambda x: x.sum(), "mean": lambda x: x.mean(),
    "var": lambda x: x.var(), "max": lambda x: x.max(), "logsumexp": lambda x: x.logsumexp(),
    "softmax": lambda x: x.softmax(), "log_softmax": lambda x: x.log_softmax(),
    "where": lambda x: sg.where(x > 1.0, x, 0.0), "pad": lambda x: x.pad(1, value=0.5),
    "matmul": lambda x: x @ x, "mse_loss": lambda x: sg.mse_loss(x, sg.zeros(3)),
    "bce_with_logits": lambda x: sg.binary_cross_entropy_with_logits(x, sg.ones(3)),
}


@pytest.mark.parametrize("name", list(FLOAT32_OPS))
def test_float32_stays_float32_through_op_and_gradient(name):
    x = float32_leaf()
    y = FLOAT32_OPS[name](x)
    assert y.dtype == numpy.float32
    (gradient,) = sg.grad(y.sum(), x, create_graph=True)
    assert gradient.dtype == numpy.float32
    if gradient.requires_grad:  # the second derivative too, where the first is not constant
        (second,) = sg.grad(gradient.sum(), x, allow_unused=True)
        assert second is None or second.dtype == numpy.float32


def test_float32_gradient_accumulated_by_backward_stays_float32():
    x = float32_leaf()
    ((x * 0.5 + 1) ** 2 / 3).sum().backward()
    assert x.grad.dtype == numpy.float32
