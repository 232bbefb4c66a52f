"""The differentiable primitives, one family per module, and their functional forms."""

from scratchgan.ops import tensor_methods
from scratchgan.ops.conv import conv2d, conv2d_weight, conv_transpose2d
from scratchgan.ops.elementwise import (
    abs, add, cast, clip, div, exp, leaky_relu, log, log1p, log_sigmoid, maximum, minimum, mul,
    neg, pow, relu, sigmoid, softplus, sqrt, sub, tanh, where,
)
from scratchgan.ops.linalg import linear, matmul
from scratchgan.ops.loss import (
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, l1_loss, mse_loss,
    nll_loss,
)
from scratchgan.ops.norm import batch_norm
from scratchgan.ops.reduce import (
    log_softmax, logsumexp, max_ as max, mean, min_ as min, softmax, sum_ as sum, var,
)
from scratchgan.ops.shape import (
    broadcast_to, concatenate, expand, flatten, getitem, pad, permute, reshape, squeeze, stack,
    swapaxes, transpose, unsqueeze,
)

tensor_methods.install()
