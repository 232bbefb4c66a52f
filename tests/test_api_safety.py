"""Specification of the checks at the API's edges: what a Tensor may hold, what an optimizer
accepts (parameters, hyper-parameters, saved state), what ``Module.load_state_dict`` copies,
which ops refuse mixed dtypes, and what the package exports.

Every refused input is refused before anything changes, with an error that names the op or
class, what it expected and what it got.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy
import pytest

import scratchgan as sg
from scratchgan import nn

NAN, INF = float("nan"), float("inf")


def parameter(shape=(3,), dtype=numpy.float32, seed=0):
    return nn.Parameter(numpy.random.default_rng(seed).standard_normal(shape).astype(dtype))


def stepped(optimizer_class, params, steps=2, **options):
    """An optimizer over ``params`` after ``steps`` steps with fixed gradients."""
    optimizer = optimizer_class(params, **options)
    for _ in range(steps):
        for param in params:
            param.grad = sg.Tensor(numpy.ones(param.shape, dtype=param.dtype))
        optimizer.step()
    return optimizer


def snapshot(optimizer):
    """The optimizer's groups (less the parameters) and state, as plain copies to compare."""
    groups = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    state = {key: {k: numpy.array(v) for k, v in entry.items()} for key, entry in optimizer.state.items()}
    return copy.deepcopy(groups), state


def assert_unchanged(optimizer, before):
    groups, state = snapshot(optimizer)
    assert groups == before[0]
    assert state.keys() == before[1].keys()
    for key, entry in state.items():
        assert entry.keys() == before[1][key].keys()
        for name, value in entry.items():
            numpy.testing.assert_array_equal(value, before[1][key][name], err_msg=name)


# -- 1. what a Tensor holds ----------------------------------------------------------------------
NOT_NUMBERS = [
    pytest.param(["a", "b"], id="list-of-strings"),
    pytest.param(None, id="None"),
    pytest.param({}, id="dict"),
    pytest.param(numpy.array([1.0, "x"], dtype=object), id="object-array"),
    pytest.param(numpy.array(["1.5", "2"]), id="string-array"),
]


@pytest.mark.parametrize("data", NOT_NUMBERS)
def test_tensor_refuses_data_that_are_not_numbers(data):
    with pytest.raises(TypeError, match=r"Tensor: expected numbers \(bool, int or float data\), got"):
        sg.Tensor(data)


@pytest.mark.parametrize("data", NOT_NUMBERS)
def test_tensor_refuses_what_torch_tensor_refuses(torch, data):
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        torch.tensor(data)
    with pytest.raises(TypeError):
        sg.Tensor(data)


def test_tensor_refuses_a_requested_object_dtype():
    with pytest.raises(TypeError, match="Tensor: expected a numeric dtype"):
        sg.Tensor([1.0, 2.0], dtype=object)


def test_tensor_refuses_strings_even_with_a_float_dtype_requested():
    with pytest.raises(TypeError, match="Tensor: expected numbers"):
        sg.Tensor(["1.5", "2"], dtype=numpy.float32)


# -- 2. optimizer parameters and hyper-parameters ---------------------------------------------------
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_optimizer_refuses_the_same_parameter_twice_in_one_group(name):
    w = parameter()
    with pytest.raises(ValueError, match=rf"{name}: parameter 1 .* same tensor as parameter 0"):
        getattr(sg.optim, name)([w, w])


NON_FINITE_OR_NEGATIVE = [
    ("SGD", "lr", NAN), ("SGD", "lr", INF), ("SGD", "momentum", NAN), ("SGD", "weight_decay", NAN),
    ("SGD", "dampening", NAN),
    ("Adam", "lr", NAN), ("Adam", "lr", INF), ("Adam", "eps", NAN), ("Adam", "weight_decay", NAN),
    ("Adam", "weight_decay", INF),
    ("RMSprop", "lr", NAN), ("RMSprop", "alpha", NAN), ("RMSprop", "eps", NAN),
    ("RMSprop", "momentum", NAN), ("RMSprop", "weight_decay", INF),
]


@pytest.mark.parametrize("name, key, value", NON_FINITE_OR_NEGATIVE,
                         ids=[f"{n}-{k}={v}" for n, k, v in NON_FINITE_OR_NEGATIVE])
def test_optimizer_refuses_a_non_finite_hyperparameter_naming_it(name, key, value):
    with pytest.raises(ValueError, match=rf"{name}: {key} must be a finite number"):
        getattr(sg.optim, name)([parameter()], **{key: value})


@pytest.mark.parametrize("name, options", [("Adam", {"eps": NAN}), ("RMSprop", {"alpha": NAN}),
                                           ("RMSprop", {"eps": NAN})], ids=["Adam-eps", "RMSprop-alpha",
                                                                            "RMSprop-eps"])
def test_optimizer_refuses_a_nan_hyperparameter_like_torch(torch, name, options):
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(3))], **options)
    with pytest.raises(ValueError, match=f"{name}: {next(iter(options))}"):
        getattr(sg.optim, name)([parameter()], **options)


def test_optimizer_refuses_a_hyperparameter_that_is_not_a_number():
    with pytest.raises(TypeError, match="SGD: lr must be a number, got str"):
        sg.optim.SGD([parameter()], lr="0.1")


# -- 3. optimizer state dicts: checked whole before anything changes ---------------------------------
def test_load_state_dict_refuses_a_wrong_shaped_moment_naming_key_and_shapes():
    params = [parameter((3,)), parameter((2, 2), seed=1)]
    saved = stepped(sg.optim.Adam, params).state_dict()
    saved["state"][1]["exp_avg"] = numpy.zeros(5, dtype=numpy.float32)
    fresh = sg.optim.Adam([parameter((3,)), parameter((2, 2), seed=1)])
    with pytest.raises(ValueError, match=r"state\[1\]\['exp_avg'\] has shape \(5,\), expected \(2, 2\)"):
        fresh.load_state_dict(saved)


def test_adam_under_numba_refuses_a_wrong_shaped_exp_avg_and_keeps_its_state(restore_backend):
    if "numba" not in sg.available_backends():
        pytest.skip("numba is not installed")
    sg.set_backend("numba")
    params = [parameter((4, 3)), parameter((3,), seed=1)]
    optimizer = stepped(sg.optim.Adam, params, lr=0.01)
    saved = optimizer.state_dict()
    saved["state"][0]["exp_avg"] = numpy.zeros(2, dtype=numpy.float32)  # the kernel would write past it
    saved["param_groups"][0]["lr"] = 0.5
    before = snapshot(optimizer)
    with pytest.raises(ValueError, match=r"state\[0\]\['exp_avg'\] has shape \(2,\), expected \(4, 3\)"):
        optimizer.load_state_dict(saved)
    assert_unchanged(optimizer, before)
    values_before_the_step = [p.numpy().copy() for p in params]
    for param in params:
        param.grad = sg.Tensor(numpy.ones(param.shape, dtype=param.dtype))
    optimizer.step()  # still the optimizer it was, and it steps
    assert all(not numpy.array_equal(p.numpy(), old) for p, old in zip(params, values_before_the_step))


def test_numba_adam_kernel_refuses_moments_of_another_shape():
    numba_cpu = pytest.importorskip("scratchgan.kernels.numba_cpu")
    param = numpy.ones(3, dtype=numpy.float32)
    with pytest.raises(ValueError, match=r"adam_update: .* must have one shape, got \(3,\), \(3,\), \(4,\)"):
        numba_cpu.adam_update(param, param.copy(), numpy.zeros(4, numpy.float32),
                              numpy.zeros(3, numpy.float32), 0.9, 0.999, 1e-3, 1.0, 1e-8)


def test_load_state_dict_refuses_an_invalid_saved_hyperparameter():
    saved = stepped(sg.optim.SGD, [parameter()], momentum=0.9).state_dict()
    saved["param_groups"][0]["lr"] = -1.0
    fresh = sg.optim.SGD([parameter()], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: saved parameter group 0: SGD: lr must be"):
        fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.1


def test_load_state_dict_refuses_missing_state_keys_naming_them():
    saved = stepped(sg.optim.Adam, [parameter()]).state_dict()
    del saved["state"][0]["exp_avg_sq"]
    with pytest.raises(ValueError, match=r"state\[0\] .*missing \['exp_avg_sq'\]"):
        sg.optim.Adam([parameter()]).load_state_dict(saved)


def test_load_state_dict_refuses_unexpected_state_keys_naming_them():
    saved = stepped(sg.optim.RMSprop, [parameter()]).state_dict()
    saved["state"][0]["momentum_buffer"] = numpy.zeros(3, dtype=numpy.float32)  # momentum is 0
    with pytest.raises(ValueError, match=r"state\[0\] .*unexpected \['momentum_buffer'\]"):
        sg.optim.RMSprop([parameter()]).load_state_dict(saved)


def test_load_state_dict_needs_max_exp_avg_sq_when_the_saved_group_uses_amsgrad():
    saved = stepped(sg.optim.Adam, [parameter()]).state_dict()
    saved["param_groups"][0]["amsgrad"] = True
    with pytest.raises(ValueError, match=r"missing \['max_exp_avg_sq'\]"):
        sg.optim.Adam([parameter()]).load_state_dict(saved)


@pytest.mark.parametrize("step", [-1, NAN, INF, numpy.ones(3)], ids=["negative", "nan", "inf", "array"])
def test_load_state_dict_refuses_a_step_that_is_not_a_finite_count(step):
    saved = stepped(sg.optim.Adam, [parameter()]).state_dict()
    saved["state"][0]["step"] = step
    with pytest.raises(ValueError, match=r"state\[0\]\['step'\] must be a finite number >= 0"):
        sg.optim.Adam([parameter()]).load_state_dict(saved)


def test_load_state_dict_refuses_a_moment_that_is_not_an_array():
    saved = stepped(sg.optim.SGD, [parameter()], momentum=0.9).state_dict()
    saved["state"][0]["momentum_buffer"] = 0.0  # would broadcast, or be read past its end by a kernel
    with pytest.raises(ValueError, match=r"state\[0\]\['momentum_buffer'\] must be an array of shape \(3,\)"):
        sg.optim.SGD([parameter()], momentum=0.9).load_state_dict(saved)


def test_load_state_dict_refuses_a_moment_of_integer_dtype():
    saved = stepped(sg.optim.Adam, [parameter()]).state_dict()
    saved["state"][0]["exp_avg"] = numpy.zeros(3, dtype=numpy.int64)
    with pytest.raises(ValueError, match=r"state\[0\]\['exp_avg'\] has dtype int64, expected a floating dtype"):
        sg.optim.Adam([parameter()]).load_state_dict(saved)


def test_load_state_dict_changes_nothing_when_a_later_entry_is_invalid():
    params = [parameter((3,)), parameter((2,), seed=1)]
    optimizer = stepped(sg.optim.Adam, params, lr=0.01)
    other = stepped(sg.optim.Adam, [parameter((3,), seed=2), parameter((2,), seed=3)], steps=5, lr=0.2)
    saved = other.state_dict()
    saved["state"][1]["exp_avg_sq"] = numpy.zeros((2, 1), dtype=numpy.float32)  # the last entry
    before = snapshot(optimizer)
    with pytest.raises(ValueError, match=r"state\[1\]\['exp_avg_sq'\]"):
        optimizer.load_state_dict(saved)
    assert_unchanged(optimizer, before)


# -- 4. Module.load_state_dict: checked whole before any copy ------------------------------------
def two_layers():
    return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))


def test_module_load_state_dict_with_a_wrong_shape_on_a_later_key_copies_nothing():
    model = two_layers()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = {k: numpy.full(v.shape, 7.0) for k, v in before.items()}
    state["1.bias"] = numpy.zeros(3)  # the last key: the earlier ones would already be copied
    with pytest.raises(ValueError, match=r"1\.bias has shape \(3,\) in the state dict, expected \(2,\)"):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        numpy.testing.assert_array_equal(value, before[key], err_msg=key)


@pytest.mark.parametrize("array", [
    pytest.param(numpy.array(["1", "2"]), id="strings"),
    pytest.param(numpy.array([1.0, 2.0], dtype=object), id="objects"),
    pytest.param(numpy.array([1 + 1j, 2.0]), id="complex"),
])
def test_module_load_state_dict_refuses_non_real_dtypes_naming_the_key(array):
    model = nn.Linear(3, 2)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = {"weight": numpy.zeros((2, 3)), "bias": array}
    with pytest.raises(TypeError, match=rf"bias has dtype {array.dtype} in the state dict, expected numbers"):
        model.load_state_dict(state)
    numpy.testing.assert_array_equal(model.weight.numpy(), before["weight"])


# -- 5. matmul, linear and convolutions refuse mixed dtypes ---------------------------------------------
def test_linear_layer_refuses_float64_input_like_torch(torch):
    torch_layer = torch.nn.Linear(3, 2, dtype=torch.float32)
    with pytest.raises(RuntimeError, match="same dtype"):
        torch_layer(torch.ones(1, 3, dtype=torch.float64))
    layer = nn.Linear(3, 2)
    with pytest.raises(TypeError, match="linear: input has dtype float64 and weight has dtype float32"):
        layer(sg.Tensor(numpy.ones((1, 3))))


def test_linear_refuses_a_bias_of_another_dtype():
    x, w = sg.Tensor(numpy.ones((1, 3), numpy.float32)), sg.Tensor(numpy.ones((2, 3), numpy.float32))
    with pytest.raises(TypeError, match="linear: input has dtype float32 and bias has dtype float64"):
        sg.linear(x, w, sg.Tensor(numpy.ones(2)))


def test_matmul_refuses_mixed_float_dtypes_like_torch(torch):
    with pytest.raises(RuntimeError, match="same dtype"):
        torch.ones(2, 2, dtype=torch.float32) @ torch.ones(2, 2, dtype=torch.float64)
    a, b = sg.Tensor(numpy.ones((2, 2), numpy.float32)), sg.Tensor(numpy.ones((2, 2), numpy.float64))
    with pytest.raises(TypeError, match="matmul: a has dtype float32 and b has dtype float64"):
        a @ b


def test_conv2d_refuses_input_and_weight_of_different_dtypes_like_torch(torch):
    with pytest.raises(RuntimeError):
        torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4, dtype=torch.float64),
                                   torch.ones(1, 1, 3, 3, dtype=torch.float32))
    x, w = sg.Tensor(numpy.ones((1, 1, 4, 4))), sg.Tensor(numpy.ones((1, 1, 3, 3), numpy.float32))
    with pytest.raises(TypeError, match="conv2d: input has dtype float64 and weight has dtype float32"):
        sg.conv2d(x, w)


def test_conv2d_refuses_a_bias_of_another_dtype_like_torch(torch):
    with pytest.raises(RuntimeError, match="bias type"):
        torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4, dtype=torch.float32),
                                   torch.ones(1, 1, 3, 3, dtype=torch.float32), torch.ones(1, dtype=torch.float64))
    x, w = sg.Tensor(numpy.ones((1, 1, 4, 4), numpy.float32)), sg.Tensor(numpy.ones((1, 1, 3, 3), numpy.float32))
    with pytest.raises(TypeError, match="conv2d: input has dtype float32 and bias has dtype float64"):
        sg.conv2d(x, w, sg.Tensor(numpy.ones(1)))


def test_conv_transpose2d_refuses_input_and_weight_of_different_dtypes():
    x, w = sg.Tensor(numpy.ones((1, 2, 3, 3), numpy.float32)), sg.Tensor(numpy.ones((2, 1, 3, 3)))
    with pytest.raises(TypeError, match="conv_transpose2d: input has dtype float32 and weight has dtype float64"):
        sg.conv_transpose2d(x, w)


def test_conv2d_weight_refuses_input_and_grad_output_of_different_dtypes():
    x, gy = sg.Tensor(numpy.ones((1, 1, 4, 4), numpy.float32)), sg.Tensor(numpy.ones((1, 2, 2, 2)))
    with pytest.raises(TypeError, match="conv2d_weight: input has dtype float32 and grad_output has dtype float64"):
        sg.conv2d_weight(x, gy, kernel_size=3)


def test_conv2d_layer_refuses_float64_images_into_a_float32_model():
    layer = nn.Conv2d(1, 2, 3)
    with pytest.raises(TypeError, match="conv2d: input has dtype float64 and weight has dtype float32"):
        layer(sg.Tensor(numpy.ones((1, 1, 5, 5))))


# -- 6. the package exports what the README lists ------------------------------------------------------
def run_in_fresh_interpreter(code: str) -> subprocess.CompletedProcess:
    """A new process, so a submodule another test imported cannot stand in for the export."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_sg_data_is_available_after_import_scratchgan():
    result = run_in_fresh_interpreter("import scratchgan as sg; sg.data.toy; sg.data.images")
    assert result.returncode == 0, result.stderr


def test_sg_gan_exports_trainer_and_train_config():
    result = run_in_fresh_interpreter(
        "import scratchgan as sg; from scratchgan.gan.trainer import TrainConfig, Trainer; "
        "assert sg.gan.Trainer is Trainer and sg.gan.TrainConfig is TrainConfig")
    assert result.returncode == 0, result.stderr
