"""Padding: first and second derivatives agree with finite differences, in float64.

Each property runs at both orders, ``first_order`` (``sg.gradcheck``) and ``second_order``
(``sg.gradgradcheck``), as ``test_gradients_ops.py`` does. Pads are drawn per mode over the
range PyTorch allows, negative ones (crops) included, on 3-d and 4-d inputs (and 2-d and 5-d,
the unbatched and the 3-d forms). Padding is linear in x, so the second order checks the
graph of the gradient: slices, broadcasts and concatenations whose adjoints add up the
gradients of the positions that read one element. The index maps are checked against
NumPy's ``pad`` (reflect, edge, wrap), an independent reference.
"""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgan as sg
from scratchgan.nn import functional as F
from scratchgan.ops import padding as padding_ops
from strategies import leaves

# every test here runs on each CPU kernel set (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_backend")

ORDERS = pytest.mark.parametrize(
    "check", [sg.gradcheck, sg.gradgradcheck], ids=["first_order", "second_order"],
)
MODES = pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])


def allowed(mode, size, before, after) -> bool:
    """Pads of one dim that the mode accepts, with an output of at least one element."""
    kept = size - max(-before, 0) - max(-after, 0)
    if size + before + after < 1:
        return False
    if mode == "reflect":
        return max(before, after) < size
    if mode == "circular":
        return kept >= 1 and max(before, after) <= kept
    if mode == "constant":
        return kept >= 0
    return True  # replicate: any pads with a non-empty output


@st.composite
def padded_inputs(draw, mode, dims=st.integers(1, 2), max_side=4):
    """(x, pad): a leaf of rank len(pad) // 2 + 1 or + 2 and pads, some negative, that
    ``mode`` accepts on every padded dim."""
    dims = draw(dims)
    batch = draw(st.sampled_from([(), (draw(st.integers(1, 2)),)]))
    shape = batch + (draw(st.integers(1, 2)),) + tuple(draw(st.integers(1, max_side)) for _ in range(dims))
    pad = ()
    for size in reversed(shape[-dims:]):  # the last dim first
        widths = st.tuples(st.integers(-size, size), st.integers(-size, size))
        pad += draw(widths.filter(lambda w, size=size: allowed(mode, size, *w)))
    return draw(leaves(shape)), pad


@ORDERS
@MODES
@given(data=st.data())
def test_padding_with_crops_matches_finite_differences(check, mode, data):
    x, pad = data.draw(padded_inputs(mode))
    check(lambda x: F.pad(x, pad, mode=mode), x)


@ORDERS
@MODES
@given(data=st.data())
def test_padding_the_last_three_dims_of_a_5d_input_matches_finite_differences(check, mode, data):
    x, pad = data.draw(padded_inputs(mode, dims=st.just(3), max_side=3))
    check(lambda x: F.pad(x, pad, mode=mode), x)


@ORDERS
@given(value=st.floats(-2.0, 2.0), data=st.data())
def test_constant_padding_with_a_value_matches_finite_differences(check, value, data):
    x, pad = data.draw(padded_inputs("constant"))
    check(lambda x: F.pad(x, pad, value=value), x)


def test_a_reflected_border_pixel_receives_the_gradient_of_its_mirror_image():
    # [a, b, c] reflect-padded by one: [b, a, b, c, b]; b is read three times
    x = sg.Tensor(numpy.array([[1.0, 2.0, 3.0]]), requires_grad=True)
    y = F.pad(x, (1, 1), mode="reflect")
    weights = numpy.array([[10.0, 1.0, 100.0, 1000.0, 10000.0]])
    (grad,) = sg.grad((y * sg.Tensor(weights)).sum(), x)
    numpy.testing.assert_array_equal(grad.numpy(), [[1.0, 10110.0, 1000.0]])


def test_a_replicated_edge_receives_the_gradients_of_all_its_copies():
    x = sg.Tensor(numpy.array([[1.0, 2.0, 3.0]]), requires_grad=True)
    (grad,) = sg.grad(F.pad(x, (2, 1), mode="replicate").sum(), x)
    numpy.testing.assert_array_equal(grad.numpy(), [[3.0, 1.0, 2.0]])


@pytest.mark.parametrize("mode, numpy_mode", [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_the_index_maps_are_numpys_pad_modes(mode, numpy_mode, size):
    for before in range(size + 1):
        for after in range(size + 1):
            if not allowed(mode, size, before, after):
                continue
            index = padding_ops.INDICES[mode](size, before, after)
            expected = numpy.pad(numpy.arange(size), (before, after), mode=numpy_mode)
            numpy.testing.assert_array_equal(index, expected, err_msg=f"{mode} {size} ({before}, {after})")


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_a_negative_pad_crops_the_padded_axis_in_reflect_and_replicate_modes(mode):
    # ATen's order: pad the whole axis by the positive pads, then crop by the negative ones
    numpy_mode = {"reflect": "reflect", "replicate": "edge"}[mode]
    for before, after in [(-2, 3), (3, -3), (-1, 2), (1, -3)]:
        padded = numpy.pad(numpy.arange(4), (max(before, 0), max(after, 0)), mode=numpy_mode)
        expected = padded[max(-before, 0):len(padded) - max(-after, 0)]
        numpy.testing.assert_array_equal(padding_ops.INDICES[mode](4, before, after), expected)


def test_a_negative_pad_crops_first_in_circular_mode():
    # of [0, 1, 2, 3], (-1, 3) keeps [1, 2, 3] and wraps it: 1 2 3 | 1 2 3
    numpy.testing.assert_array_equal(padding_ops.circular_indices(4, -1, 3), [1, 2, 3, 1, 2, 3])
    # (2, -1) keeps [0, 1, 2]: 1 2 | 0 1 2
    numpy.testing.assert_array_equal(padding_ops.circular_indices(4, 2, -1), [1, 2, 0, 1, 2])
