"""Scaled dot-product attention, a composition of matmul, softmax and elementwise ops.

    attention(Q, K, V) = softmax(Q K^T * scale + bias) V,   scale = 1 / sqrt(E) by default,

PyTorch's ``F.scaled_dot_product_attention`` (Vaswani et al. 2017, "Attention Is All You
Need", arXiv:1706.03762, eq. 1). No node of its own: its derivatives of every order are
those of ``matmul`` and ``softmax`` (docs/atlas/attention.md).
"""

from __future__ import annotations

import math
import numbers

import numpy

from scratchgan.autograd import factories
from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import elementwise as ew
from scratchgan.ops import linalg
from scratchgan.ops import reduce as reduce_ops
from scratchgan.ops import shape as shape_ops

OP = "scaled_dot_product_attention"


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """softmax(Q K^T * scale + bias) V over the last two axes: query (..., L, E), key (..., S, E),
    value (..., S, Ev) -> (..., L, Ev), leading axes broadcast as in matmul.

    ``attn_mask``: a boolean mask (True: the key takes part; False adds -inf) or a float bias
    added to the scores, broadcast to (..., L, S); ``is_causal``: query i sees keys 0..i (the
    lower triangle of an L x S matrix, from its top-left corner). A query row whose every key is
    masked gives zeros (PyTorch's safe softmax), not NaN. ``dropout_p``: inverted dropout of the
    attention weights, always applied when positive (there is no training flag, as in PyTorch),
    drawn from ``scratchgan.random``. ``enable_gqa``: grouped-query attention, each key/value
    head (axis -3) shared by ``Hq / Hkv`` consecutive query heads.
    """
    _check_operands(query, key, value, enable_gqa)
    if enable_gqa and query.shape[-3] != key.shape[-3]:
        key = _repeat_heads(key, query.shape[-3] // key.shape[-3])
        value = _repeat_heads(value, query.shape[-3] // value.shape[-3])
    scores_shape = numpy.broadcast_shapes(query.shape[:-2], key.shape[:-2]) + (query.shape[-2], key.shape[-2])
    bias = _attention_bias(attn_mask, is_causal, query, scores_shape)
    scale = _check_scale(scale, query.shape[-1])
    if not (isinstance(dropout_p, numbers.Real) and 0.0 <= dropout_p <= 1.0):
        raise ValueError(f"{OP}: dropout_p must be a probability in [0, 1], got {dropout_p!r}")
    scores = linalg.matmul(query, shape_ops.swapaxes(key, -1, -2)) * scale  # (..., L, S)
    weights = reduce_ops.softmax(scores, axis=-1) if bias is None else _safe_softmax(scores + bias)
    if dropout_p > 0.0:
        weights = _dropout(weights, float(dropout_p))
    return linalg.matmul(weights, value)  # (..., L, Ev)


def _check_operands(query, key, value, enable_gqa):
    for name, operand in (("query", query), ("key", key), ("value", value)):
        if not isinstance(operand, Tensor):
            raise TypeError(f"{OP}: {name} must be a Tensor, got {type(operand).__name__}")
        if operand.ndim < 2:
            raise ValueError(f"{OP}: expected query, key and value of at least 2 dimensions (..., L or S, E), "
                             f"got shapes {query.shape}, {key.shape} and {value.shape}")
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"{OP}: expected query, key and value of one dtype, got {query.dtype}, "
                        f"{key.dtype} and {value.dtype}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{OP}: query {query.shape} and key {key.shape} have different embedding sizes "
                         f"({query.shape[-1]} != {key.shape[-1]})")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{OP}: key {key.shape} and value {value.shape} have different numbers of keys "
                         f"({key.shape[-2]} != {value.shape[-2]})")
    if enable_gqa:
        if query.ndim < 3 or key.ndim < 3 or value.ndim < 3:
            raise ValueError(f"{OP}: enable_gqa needs a heads axis (..., H, L, E), got shapes {query.shape}, "
                             f"{key.shape} and {value.shape}")
        heads, kv_heads = query.shape[-3], key.shape[-3]
        if value.shape[-3] != kv_heads or heads % kv_heads:
            raise ValueError(f"{OP}: with enable_gqa, key {key.shape} and value {value.shape} need one number of "
                             f"heads dividing the query's {heads} (query {query.shape})")
    batch = [t.shape[:-2] for t in (query, key, value)]
    if enable_gqa:  # the heads axis is compared after the key/value heads are repeated
        batch = [b[:-1] for b in batch]
    try:
        numpy.broadcast_shapes(*batch)
    except ValueError:
        raise ValueError(f"{OP}: the batch axes of query {query.shape}, key {key.shape} and value "
                         f"{value.shape} do not broadcast") from None


def _check_scale(scale, embedding):
    if scale is None:
        return 1.0 / math.sqrt(embedding)
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"{OP}: scale must be a number or None, got {scale!r}")
    return float(scale)


def _repeat_heads(tensor, repeats):
    """PyTorch's repeat_interleave(repeats, dim=-3): each head copied ``repeats`` times in a row."""
    *batch, heads, rows, features = tensor.shape
    grouped = shape_ops.reshape(tensor, (*batch, heads, 1, rows, features))
    grouped = shape_ops.broadcast_to(grouped, (*batch, heads, repeats, rows, features))
    return shape_ops.reshape(grouped, (*batch, heads * repeats, rows, features))


def _attention_bias(attn_mask, is_causal, query, scores_shape):
    """What is added to the scores: None, 0/-inf for a boolean or causal mask (a constant), or the
    float mask itself (differentiable, as in PyTorch), cast to the query's dtype."""
    xp, length, keys = query.xp, scores_shape[-2], scores_shape[-1]
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{OP}: pass attn_mask or is_causal=True, not both")
        attn_mask = Tensor(xp.tril(xp.ones((length, keys), dtype=bool)))
    if attn_mask is None:
        return None
    mask = attn_mask if isinstance(attn_mask, Tensor) else Tensor(xp.asarray(attn_mask))
    if mask.dtype not in (numpy.dtype(bool), numpy.dtype(numpy.float32), query.dtype):
        raise TypeError(f"{OP}: attn_mask must be bool, float32 or the query's dtype {query.dtype}, "
                        f"got {mask.dtype}")
    try:
        fits = numpy.broadcast_shapes(mask.shape, scores_shape) == tuple(scores_shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{OP}: attn_mask of shape {mask.shape} does not broadcast to the scores' shape "
                         f"{tuple(scores_shape)} (..., L, S)")
    if mask.dtype == bool:
        return Tensor(xp.where(mask.data, 0.0, -numpy.inf).astype(query.dtype))
    return ew.cast(mask, query.dtype)


def _safe_softmax(scores):
    """softmax over the last axis, with 0 on rows that are -inf throughout (every key masked),
    PyTorch's ``_safe_softmax``. Those rows go through the softmax as zeros, so neither the
    value nor any derivative of it meets a NaN."""
    xp = scores.xp
    masked_rows = xp.all(xp.isneginf(scores.data), axis=-1, keepdims=True)  # a constant (..., L, 1)
    weights = reduce_ops.softmax(ew.where(masked_rows, 0.0, scores), axis=-1)
    return ew.where(masked_rows, 0.0, weights)


def _dropout(weights, p):
    """Zero each weight with probability p, scale the rest by 1 / (1 - p); the uniform draws come
    from the global generator (the device stream for a GPU tensor), as ``F.dropout``'s."""
    if p == 1.0:
        return weights * 0.0
    uniform = factories.rand(*weights.shape, dtype=numpy.float64, device=weights.device).data
    keep = (uniform >= p).astype(weights.dtype) * weights.dtype.type(1.0 / (1.0 - p))
    return weights * Tensor(keep)
