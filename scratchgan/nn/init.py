"""Parameter initialisers (PyTorch's ``torch.nn.init`` formulas), drawing from the global generator.

Each ``*_`` function overwrites a Tensor's values in place, keeps its dtype, and
returns it. ``dcgan_init_`` applies the DCGAN paper's scheme to a whole model.
"""

from __future__ import annotations

import math

from scratchgan import random
from scratchgan.autograd.grad_mode import no_grad


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for an activation (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field (PyTorch's rule)."""
    if tensor.ndim < 2:
        raise ValueError(
            f"fan_in_and_fan_out: needs a tensor with at least 2 dimensions, got shape {tensor.shape}"
        )
    receptive = 1
    for n in tensor.shape[2:]:
        receptive *= n
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor, values):
    with no_grad():
        tensor.data = tensor.xp.asarray(values, dtype=tensor.dtype)
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """U(a, b)."""
    return _fill(tensor, random.generator().uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """N(mean, std^2)."""
    return _fill(tensor, random.generator().normal(mean, std, size=tensor.shape))


def constant_(tensor, value):
    """Every element = value."""
    return _fill(tensor, tensor.xp.full(tensor.shape, value))


def zeros_(tensor):
    """Every element = 0."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Every element = 1."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    """U(-a, a), a = gain sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-b, b), b = sqrt(3) gain / sqrt(fan)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std^2), std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def default_layer_init_(weight, bias):
    """PyTorch's Linear/Conv default: kaiming_uniform(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = fan_in_and_fan_out(weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)


def dcgan_init_(model, std=0.02):
    """Radford et al. (2015): conv and linear weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02),
    biases 0. Applied to every submodule of ``model``; returns it."""
    from scratchgan.nn import layers

    for module in model.modules():
        if isinstance(module, (layers._ConvNd, layers.Linear)):  # 1-d and 2-d, plain and transposed
            normal_(module.weight, 0.0, std)
            if module.bias is not None:
                zeros_(module.bias)
        elif isinstance(module, layers._BatchNorm) and module.affine:
            normal_(module.weight, 1.0, std)
            zeros_(module.bias)
    return model
