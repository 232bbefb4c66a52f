"""bmm, einsum, scaled dot-product attention and SAGAN's self-attention block: their first and
second derivatives agree with finite differences (float64), and their properties and errors.

Each finite-difference test runs at both orders (``sg.gradcheck``, ``sg.gradgradcheck``), on
inputs from ``strategies`` in drawn memory layouts. Attention is smooth everywhere (softmax
and products), so no input needs to keep away from a kink; masked entries are constants.
"""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgan as sg
from scratchgan.nn import functional as F
from strategies import leaves

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)
sides = st.integers(1, 3)
# the self-attention block perturbs every weight through a double backward at second order:
# half the active profile's examples (6 under ``ci``)
HALF_THE_EXAMPLES = settings(max_examples=max(1, settings().max_examples // 2))


@st.composite
def einsum_leaves(draw, equation):
    """One leaf per operand of an ellipsis-free ``equation``, a drawn size (1-3) per label."""
    terms = equation.split("->")[0].split(",")
    sizes = {label: draw(sides) for label in sorted(set("".join(terms)))}
    return tuple(draw(leaves(tuple(sizes[label] for label in term))) for term in terms)


# -- bmm -----------------------------------------------------------------------------------------
@ORDERS
@given(batch=sides, rows=sides, inner=sides, columns=sides, data=st.data())
def test_bmm_matches_finite_differences(check, batch, rows, inner, columns, data):
    a = data.draw(leaves((batch, rows, inner)))
    b = data.draw(leaves((batch, inner, columns)))
    check(sg.bmm, (a, b))


# -- einsum --------------------------------------------------------------------------------------
EINSUM_EQUATIONS = [
    "ij,jk->ik",        # a matrix product
    "ij,jk",            # the same, implicit output
    "bqd,bkd->bqk",     # attention scores
    "bqk,bkd->bqd",     # attention output
    "bhqd,bhkd->bhqk",  # multi-head scores
    "ni,ijk->njk",      # minibatch discrimination's x T, T as (in, kernels, dims)
    "ij,kj,k->ik",      # three operands
    "i,j->ij",          # outer product: each label in one operand only
    "ij->",             # a sum: the gradient broadcasts along both labels
    "ij->ji",           # a transpose
    "ii->i",            # a diagonal
    "ii",               # a trace (implicit output)
    "iji,jk->ik",       # a repeated label beside a contracted one
    "ij,ij",            # elementwise product, summed (implicit output: nothing)
]


@ORDERS
@pytest.mark.parametrize("equation", EINSUM_EQUATIONS)
@given(data=st.data())
def test_einsum_matches_finite_differences(check, equation, data):
    operands = data.draw(einsum_leaves(equation))
    check(lambda *xs: sg.einsum(equation, *xs), operands)


@ORDERS
@given(batch_shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
       rows=sides, inner=sides, columns=sides, data=st.data())
def test_einsum_with_a_broadcast_ellipsis_matches_finite_differences(check, batch_shapes, rows, inner,
                                                                     columns, data):
    a_batch, b_batch = batch_shapes.input_shapes
    a = data.draw(leaves(a_batch + (rows, inner)))
    b = data.draw(leaves(b_batch + (inner, columns)))
    check(lambda a, b: sg.einsum("...ij,...jk->...ik", a, b), (a, b))


@ORDERS
@given(rows=sides, columns=st.integers(2, 3), data=st.data())
def test_einsum_with_a_label_of_size_one_broadcast_matches_finite_differences(check, rows, columns, data):
    a = data.draw(leaves((rows, 1)))
    b = data.draw(leaves((rows, columns)))
    check(lambda a, b: sg.einsum("ij,ij->ij", a, b), (a, b))


# -- scaled dot-product attention ---------------------------------------------------------------
@st.composite
def attention_leaves(draw, heads=False):
    """query (B, [H,] L, E), key (B, [H,] S, E), value (B, [H,] S, Ev), sizes 1-3, values in [-2, 2]."""
    batch = (draw(sides),) + ((draw(sides),) if heads else ())
    length, keys, embedding, value_size = (draw(sides) for _ in range(4))
    return (draw(leaves(batch + (length, embedding))), draw(leaves(batch + (keys, embedding))),
            draw(leaves(batch + (keys, value_size))))


@ORDERS
@given(operands=attention_leaves(heads=True), scale=st.sampled_from([None, 0.5]))
def test_scaled_dot_product_attention_matches_finite_differences(check, operands, scale):
    check(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=scale), operands)


@ORDERS
@given(operands=attention_leaves())
def test_causal_attention_matches_finite_differences(check, operands):
    check(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), operands)


@ORDERS
@given(operands=attention_leaves(), data=st.data())
def test_attention_with_a_boolean_mask_matches_finite_differences(check, operands, data):
    """Masked-out keys are constants; a row with every key masked is zero (and so is its gradient)."""
    query, key = operands[0], operands[1]
    mask = data.draw(hnp.arrays(bool, (query.shape[-2], key.shape[-2])))
    check(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=sg.Tensor(mask)), operands)


@ORDERS
@given(operands=attention_leaves(), data=st.data())
def test_attention_with_a_float_mask_matches_finite_differences_in_the_mask_too(check, operands, data):
    query, key = operands[0], operands[1]
    bias = data.draw(leaves((1, query.shape[-2], key.shape[-2])))
    check(lambda q, k, v, bias: F.scaled_dot_product_attention(q, k, v, attn_mask=bias), operands + (bias,))


@ORDERS
@given(batch=sides, kv_heads=st.integers(1, 2), group=st.integers(1, 2), length=sides, keys=sides,
       embedding=sides, data=st.data())
def test_grouped_query_attention_matches_finite_differences(check, batch, kv_heads, group, length, keys,
                                                            embedding, data):
    query = data.draw(leaves((batch, kv_heads * group, length, embedding)))
    key = data.draw(leaves((batch, kv_heads, keys, embedding)))
    value = data.draw(leaves((batch, kv_heads, keys, embedding)))
    check(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), (query, key, value))


# -- SelfAttention2d ----------------------------------------------------------------------------
def self_attention(in_channels, key_channels, value_channels, gamma=0.8, seed=0):
    """A float64 block with a non-zero gamma (at gamma = 0 the weights get no gradient)."""
    sg.manual_seed(seed)
    layer = sg.nn.SelfAttention2d(in_channels, key_channels, value_channels).double()
    layer.gamma.data[...] = gamma
    return layer


@ORDERS
@HALF_THE_EXAMPLES
@given(batch=st.integers(1, 2), channels=st.integers(1, 3), key_channels=st.integers(1, 2),
       value_channels=st.sampled_from([None, 1, 2]), height=st.integers(1, 2), width=st.integers(1, 3),
       data=st.data())
def test_self_attention2d_matches_finite_differences_in_input_and_weights(
        check, batch, channels, key_channels, value_channels, height, width, data):
    layer = self_attention(channels, key_channels, value_channels)
    x = data.draw(leaves((batch, channels, height, width)))
    check(lambda x, *weights: layer(x), (x, *layer.parameters()))


# -- properties --------------------------------------------------------------------------------
def test_bmm_is_one_matmul_per_batch_element(rng):
    a, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 4, 5))
    out = sg.bmm(sg.Tensor(a), sg.Tensor(b)).numpy()
    numpy.testing.assert_allclose(out, numpy.stack([a[i] @ b[i] for i in range(3)]), rtol=1e-13)


def test_einsum_of_minibatch_discrimination_is_its_x_times_T_reshaped(rng):
    """MinibatchDiscrimination's M = (x T).reshape(N, B, C) is einsum('ni,ijk->njk', x, T as (F, B, C))."""
    from scratchgan.gan.tricks import MinibatchDiscrimination

    layer = MinibatchDiscrimination(5, num_kernels=3, kernel_dim=4, dtype=numpy.float64)
    x = sg.Tensor(rng.standard_normal((6, 5)))
    expected = (x @ layer.T).reshape(6, 3, 4)
    actual = sg.einsum("ni,ijk->njk", x, layer.T.reshape(5, 3, 4))
    numpy.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_einsum_and_attention_keep_float32_and_float64(dtype, rng):
    q, k, v = (sg.Tensor(rng.standard_normal((2, 3, 4)).astype(dtype), requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=sg.Tensor(numpy.ones((3, 3), numpy.float32)))
    scores = sg.einsum("bqd,bkd->bqk", q, k)
    assert out.dtype == scores.dtype == dtype
    assert all(g.dtype == dtype for g in sg.grad((out.sum() + scores.sum()), [q, k, v]))


def test_einsum_implicit_output_sorts_the_labels_seen_once_upper_case_first(rng):
    x = sg.Tensor(rng.standard_normal((2, 3)))
    assert sg.einsum("ba", x).shape == (3, 2)
    assert sg.einsum("Ba", x).shape == (2, 3)
    assert sg.einsum("ii", sg.Tensor(numpy.eye(3))).shape == ()


def test_einsum_sums_the_ellipsis_when_an_explicit_output_leaves_it_out(rng):
    x = rng.standard_normal((4, 2, 3))
    numpy.testing.assert_allclose(sg.einsum("...ij->ij", sg.Tensor(x)).numpy(), x.sum(axis=0), rtol=1e-13)


def test_a_fully_masked_query_row_attends_to_nothing_and_gives_zeros(rng):
    q, k, v = (sg.Tensor(rng.standard_normal(shape), requires_grad=True) for shape in ((3, 2), (4, 2), (4, 5)))
    mask = numpy.ones((3, 4), dtype=bool)
    mask[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=sg.Tensor(mask))
    grad_q = sg.grad(out.sum(), q)[0].numpy()
    assert numpy.all(out.numpy()[1] == 0.0) and numpy.all(grad_q[1] == 0.0)
    assert numpy.isfinite(out.numpy()).all() and numpy.isfinite(grad_q).all()


def test_attention_dropout_zeroes_about_p_of_the_weights_and_rescales_the_rest():
    """With V = I, the output is the (dropped-out) attention matrix itself: each weight is 0 or
    1 / (1 - p) times the softmax weight, 0 with probability p; reseeding repeats the draw."""
    p, keys = 0.3, 40
    query = sg.Tensor(numpy.zeros((50, 1, 2)))  # uniform attention: every weight is 1 / keys
    key = sg.Tensor(numpy.zeros((50, keys, 2)))
    value = sg.Tensor(numpy.broadcast_to(numpy.eye(keys), (50, keys, keys)).copy())
    sg.manual_seed(3)
    weights = F.scaled_dot_product_attention(query, key, value, dropout_p=p).numpy()
    sg.manual_seed(3)
    again = F.scaled_dot_product_attention(query, key, value, dropout_p=p).numpy()
    assert weights.shape == (50, 1, keys)
    numpy.testing.assert_array_equal(weights, again)
    kept = weights != 0
    numpy.testing.assert_allclose(weights[kept], 1.0 / keys / (1.0 - p), rtol=1e-12)
    assert abs(1.0 - kept.mean() - p) < 4 * numpy.sqrt(p * (1 - p) / kept.size)  # 4 standard errors


def test_attention_dropout_of_one_gives_zeros(rng):
    q, k, v = (sg.Tensor(rng.standard_normal((2, 3, 4))) for _ in range(3))
    assert numpy.all(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy() == 0.0)


def test_self_attention2d_is_the_identity_at_initialisation(rng):
    layer = sg.nn.SelfAttention2d(16)
    x = sg.Tensor(rng.standard_normal((2, 16, 3, 4)).astype(numpy.float32))
    numpy.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    assert layer.gamma.shape == (1,) and float(layer.gamma.data[0]) == 0.0


@pytest.mark.parametrize("value_channels", [None, 4])
def test_self_attention2d_shapes_parameters_and_dtype(value_channels, rng):
    layer = sg.nn.SelfAttention2d(16, value_channels=value_channels)
    shapes = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    expected = {"gamma": (1,), "f.weight": (2, 16, 1, 1), "g.weight": (2, 16, 1, 1),
                "h.weight": (value_channels or 16, 16, 1, 1)}
    if value_channels:
        expected["v.weight"] = (16, value_channels, 1, 1)
    assert shapes == expected
    layer.gamma.data[...] = 0.5
    out = layer(sg.Tensor(rng.standard_normal((3, 16, 2, 5)).astype(numpy.float32)))
    assert out.shape == (3, 16, 2, 5) and out.dtype == numpy.float32


def test_self_attention2d_attends_over_all_positions(rng):
    """Changing one position changes the output at every other one (once gamma != 0)."""
    layer = self_attention(4, 2, None, gamma=1.0)
    x = rng.standard_normal((1, 4, 3, 3))
    moved = x.copy()
    moved[0, :, 2, 2] += 1.0
    difference = numpy.abs(layer(sg.Tensor(moved)).numpy() - layer(sg.Tensor(x)).numpy())
    assert (difference.sum(axis=1) > 0).all()


# -- errors --------------------------------------------------------------------------------------
def _t(*shape, dtype=numpy.float64):
    return sg.Tensor(numpy.ones(shape, dtype=dtype))


@pytest.mark.parametrize("a, b, match", [
    ((2, 3), (2, 3, 4), r"bmm: expected 3-d tensors .* got shapes \(2, 3\) and \(2, 3, 4\)"),
    ((2, 3, 4), (3, 4, 5), r"bmm: input of shape \(2, 3, 4\) needs mat2 of shape \(2, 4, p\), got \(3, 4, 5\)"),
    ((2, 3, 4), (2, 5, 5), r"bmm: input of shape \(2, 3, 4\) needs mat2 of shape \(2, 4, p\), got \(2, 5, 5\)"),
])
def test_bmm_refuses_shapes_it_cannot_multiply(a, b, match):
    with pytest.raises(ValueError, match=match):
        sg.bmm(_t(*a), _t(*b))


def test_bmm_refuses_mixed_dtypes():
    with pytest.raises(TypeError, match="bmm: input has dtype float32 and mat2 has dtype float64"):
        sg.bmm(_t(2, 3, 4, dtype=numpy.float32), _t(2, 4, 5))


@pytest.mark.parametrize("equation, shapes, match", [
    ("ij,jk->ik", [(2, 3)], r"2 operand subscript\(s\) but 1 operand\(s\)"),
    ("ij", [(2, 3), (3,)], r"1 operand subscript\(s\) but 2 operand\(s\)"),
    ("ij->ij", [(2, 3, 4)], r"subscripts 'ij' of operand 0 do not fit its 3 dimensions \(shape \(2, 3, 4\)\)"),
    ("i1", [(2, 2)], r"invalid character '1' in the subscripts 'i1'"),
    ("ij->j->i", [(2, 3)], "more than one '->'"),
    ("i.j", [(2, 3)], r"'\.' that is not part of one ellipsis"),
    ("......", [(2, 3)], "more than one ellipsis"),
    ("ii->ii", [(2, 2)], "output label 'i' appears more than once"),
    ("ij->k", [(2, 2)], "output label 'k' of 'ij->k' is in no operand"),
    ("ii", [(2, 3)], r"label 'i' is repeated in operand 0 \(shape \(2, 3\)\) with different sizes 2 and 3"),
    ("i,i->i", [(3,), (2,)], r"label 'i' has size 2 in operand 1 \(shape \(2,\)\) and size 3"),
    ("...i,...i->...", [(4, 3), (5, 3)], r"'\.\.\.' covers do not broadcast .* shapes \(4,\), \(5,\)"),
])
def test_einsum_refuses_an_equation_that_does_not_fit_its_operands(equation, shapes, match):
    with pytest.raises(ValueError, match=match):
        sg.einsum(equation, *(_t(*shape) for shape in shapes))


def test_einsum_refuses_non_tensors_and_mixed_dtypes():
    with pytest.raises(TypeError, match="einsum: operand 1 must be a Tensor, got float"):
        sg.einsum("i,->i", _t(2), 3.0)
    with pytest.raises(TypeError, match="einsum: operand 0 has dtype float32 and operand 1 has dtype float64"):
        sg.einsum("i,i", _t(2, dtype=numpy.float32), _t(2))
    with pytest.raises(ValueError, match="einsum: expected at least one operand"):
        sg.einsum("ij")


@pytest.mark.parametrize("shapes, options, match", [
    ([(3,), (4,), (4,)], {}, r"at least 2 dimensions .* got shapes \(3,\), \(4,\) and \(4,\)"),
    ([(2, 3, 4), (2, 5, 3), (2, 5, 6)], {}, r"query \(2, 3, 4\) and key \(2, 5, 3\) have different embedding"),
    ([(2, 3, 4), (2, 5, 4), (2, 4, 6)], {}, r"key \(2, 5, 4\) and value \(2, 4, 6\) have different numbers of keys"),
    ([(2, 3, 4), (3, 5, 4), (3, 5, 6)], {}, r"batch axes of query \(2, 3, 4\), key \(3, 5, 4\) .* do not broadcast"),
    ([(2, 4, 3, 4), (2, 3, 5, 4), (2, 3, 5, 6)], {"enable_gqa": True}, "need one number of heads dividing"),
    ([(2, 3, 4), (2, 5, 4), (2, 5, 6)], {"dropout_p": 1.5}, r"dropout_p must be a probability in \[0, 1\]"),
    ([(2, 3, 4), (2, 5, 4), (2, 5, 6)], {"is_causal": True, "attn_mask": numpy.ones((3, 5), bool)},
     "pass attn_mask or is_causal=True, not both"),
    ([(2, 3, 4), (2, 5, 4), (2, 5, 6)], {"attn_mask": numpy.ones((3, 4), bool)},
     r"attn_mask of shape \(3, 4\) does not broadcast to the scores' shape \(2, 3, 5\)"),
    ([(2, 3, 4), (2, 5, 4), (2, 5, 6)], {"attn_mask": numpy.ones((4, 2, 3, 5))},
     r"attn_mask of shape \(4, 2, 3, 5\) does not broadcast to the scores' shape \(2, 3, 5\)"),
])
def test_attention_refuses_shapes_and_options_that_do_not_fit(shapes, options, match):
    with pytest.raises(ValueError, match=match):
        F.scaled_dot_product_attention(*(_t(*shape) for shape in shapes), **options)


def test_attention_refuses_mixed_dtypes_and_integer_masks():
    with pytest.raises(TypeError, match="one dtype, got float32, float64 and float64"):
        F.scaled_dot_product_attention(_t(2, 3, dtype=numpy.float32), _t(2, 3), _t(2, 3))
    with pytest.raises(TypeError, match="attn_mask must be bool, float32 or the query's dtype float64, got int64"):
        F.scaled_dot_product_attention(_t(2, 3), _t(2, 3), _t(2, 3), attn_mask=numpy.ones((2, 2), numpy.int64))


@pytest.mark.parametrize("shape, match", [
    ((2, 8, 3), r"SelfAttention2d\(8\): expected an input \(N, 8, H, W\), got shape \(2, 8, 3\)"),
    ((2, 4, 3, 3), r"SelfAttention2d\(8\): expected an input \(N, 8, H, W\), got shape \(2, 4, 3, 3\)"),
])
def test_self_attention2d_refuses_inputs_of_the_wrong_shape(shape, match):
    with pytest.raises(ValueError, match=match):
        sg.nn.SelfAttention2d(8)(_t(*shape, dtype=numpy.float32))


def test_self_attention2d_refuses_non_positive_channels():
    with pytest.raises(ValueError, match="SelfAttention2d: key_channels must be a positive int, got 0"):
        sg.nn.SelfAttention2d(8, key_channels=0)
