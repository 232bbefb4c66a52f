"""The differentiable primitives, one family per module, and their functional forms."""

from scratchgan.ops import tensor_methods
from scratchgan.ops.activation import (
    celu, elu, gelu, hardsigmoid, hardswish, hardtanh, mish, relu6, selu, silu, softsign,
)
from scratchgan.ops.conv import conv1d, conv2d, conv2d_weight, conv_transpose1d, conv_transpose2d
from scratchgan.ops.elementwise import (
    abs, add, cast, clip, div, exp, leaky_relu, log, log1p, log_sigmoid, maximum, minimum, mul,
    neg, pow, relu, sigmoid, softplus, sqrt, sub, tanh, where,
)
from scratchgan.ops.elementwise import (  # elementwise math
    cos, erf, exp2, isfinite, isinf, isnan, log2, log10, logaddexp, rsqrt, sign, sin,
)
from scratchgan.ops.indexing import flip, gather, one_hot, repeat, roll, tril, triu
from scratchgan.ops.linalg import bmm, einsum, linear, matmul
from scratchgan.ops.loss import (
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, l1_loss, mse_loss,
    nll_loss,
)
from scratchgan.ops.norm import batch_norm, group_norm, instance_norm, layer_norm
from scratchgan.ops.reduce import (
    log_softmax, logsumexp, max_ as max, mean, min_ as min, softmax, sum_ as sum, var,
)
from scratchgan.ops.reduce import argmax, argmin, cumsum, prod, std
from scratchgan.ops.shape import (
    broadcast_to, concatenate, expand, flatten, getitem, pad, permute, reshape, squeeze, stack,
    swapaxes, transpose, unsqueeze,
)

from scratchgan.ops.attention import scaled_dot_product_attention

tensor_methods.install()
