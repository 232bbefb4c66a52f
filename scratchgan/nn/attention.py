"""The self-attention block of SAGAN (Zhang, Goodfellow, Metaxas and Odena, 2019, "Self-Attention
Generative Adversarial Networks", arXiv:1805.08318, section 3)."""

from __future__ import annotations

import numpy

from scratchgan.nn import functional as F
from scratchgan.nn.layers import Conv2d
from scratchgan.nn.module import Module, Parameter


class SelfAttention2d(Module):
    """y = gamma * o + x, with o_j = sum_i beta_{j,i} h(x_i) and beta_{j,i} = softmax_i(f(x_i)^T g(x_j))
    over the N = H W positions of a (B, C, H, W) feature map; gamma starts at 0 (y = x at init).

    f, g: 1x1 convolutions C -> ``key_channels`` (default C // 8, at least 1), the keys f(x_i)
    and the queries g(x_j); h: a 1x1 convolution C -> C, the values. This is the paper's
    section 3 as first published (arXiv v1, W_h in R^{C x C}), and the common PyTorch ports.
    With ``value_channels=c``, h maps C -> c and a fourth 1x1 convolution v maps the attended
    values back c -> C, o_j = v(sum_i beta_{j,i} h(x_i)): the ICML 2019 text (c = C / 8) and
    the authors' later code (c = C / 2). The scores are not scaled by 1 / sqrt(C / 8) (the
    paper's s_ij = f(x_i)^T g(x_j)). The convolutions have no bias by default, as W x in the
    paper; the authors' code also max-pools the keys and values, which the paper does not
    describe and this layer does not do. Parameters: ``f.weight``, ``g.weight``, ``h.weight``
    (``v.weight``), and ``gamma`` of shape (1,).
    """

    def __init__(self, in_channels, key_channels=None, value_channels=None, bias=False, dtype=None):
        super().__init__()
        for name, channels, optional in (("in_channels", in_channels, False), ("key_channels", key_channels, True),
                                         ("value_channels", value_channels, True)):
            if not (optional and channels is None) and (isinstance(channels, bool) or not isinstance(channels, int)
                                                        or channels < 1):
                raise ValueError(f"SelfAttention2d: {name} must be a positive int, got {channels!r}")
        self.in_channels = in_channels
        self.key_channels = max(1, in_channels // 8) if key_channels is None else key_channels
        self.value_channels = value_channels
        self.f = Conv2d(in_channels, self.key_channels, 1, bias=bias, dtype=dtype)  # keys f(x_i)
        self.g = Conv2d(in_channels, self.key_channels, 1, bias=bias, dtype=dtype)  # queries g(x_j)
        self.h = Conv2d(in_channels, value_channels or in_channels, 1, bias=bias, dtype=dtype)
        self.v = None if value_channels is None else Conv2d(value_channels, in_channels, 1, bias=bias, dtype=dtype)
        self.gamma = Parameter(numpy.zeros(1, dtype=numpy.float32 if dtype is None else dtype))

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SelfAttention2d({self.in_channels}): expected an input (N, {self.in_channels}, H, W), "
                             f"got shape {x.shape}")
        batch, _, height, width = x.shape
        queries = _positions(self.g(x))  # (B, N, key_channels), g(x_j) in row j
        keys = _positions(self.f(x))     # (B, N, key_channels), f(x_i) in row i
        values = _positions(self.h(x))   # (B, N, value channels), h(x_i) in row i
        attended = F.scaled_dot_product_attention(queries, keys, values, scale=1.0)  # row j: o_j
        out = attended.swapaxes(1, 2).reshape(batch, -1, height, width)
        if self.v is not None:
            out = self.v(out)
        return self.gamma * out + x

    def extra_repr(self):
        value = "" if self.value_channels is None else f", value_channels={self.value_channels}"
        return f"{self.in_channels}, key_channels={self.key_channels}{value}, bias={self.f.bias is not None}"


def _positions(feature_map):
    """(B, C, H, W) -> (B, H W, C): one row per position, in row-major (h, w) order."""
    batch, channels = feature_map.shape[:2]
    return feature_map.reshape(batch, channels, -1).swapaxes(1, 2)
