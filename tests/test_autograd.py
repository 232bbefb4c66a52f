"""Specification of the autodiff engine: backward, grad, grad modes, in-place checks, Function."""

import re

import numpy
import pytest

import scratchgan as sg


def leaf(values, dtype=numpy.float64):
    return sg.Tensor(numpy.array(values, dtype=dtype), requires_grad=True)


# -- custom Functions used below ---------------------------------------------------------------
class Cube(sg.Function):
    """d(x^3)/dx = 3 x^2, written with Tensor ops so it is differentiable again."""

    def forward(self, x):
        return x ** 3

    def backward(self, grad_output):
        (x,) = self.inputs
        return (grad_output * 3.0 * x * x,)


class CubeWrongBackward(sg.Function):
    """A deliberately wrong derivative: 2 x^2 instead of 3 x^2."""

    def forward(self, x):
        return x ** 3

    def backward(self, grad_output):
        (x,) = self.inputs
        return (grad_output * 2.0 * x * x,)


class CubeBackwardOnArrays(sg.Function):
    """Right first derivative, but computed on raw arrays: a constant to the graph."""

    def forward(self, x):
        return x ** 3

    def backward(self, grad_output):
        (x,) = self.inputs
        return (grad_output * sg.Tensor(3.0 * x.data ** 2),)


class CountingScale(sg.Function):
    """y = x * w for a scalar w; counts how often each input's gradient is computed."""

    calls = {"x": 0, "w": 0}

    def forward(self, x, w):
        return x * w

    def backward(self, grad_output):
        x, w = self.inputs
        grad_x = grad_w = None
        if self.needs_input_grad[0]:
            CountingScale.calls["x"] += 1
            grad_x = grad_output * w
        if self.needs_input_grad[1]:
            CountingScale.calls["w"] += 1
            grad_w = (grad_output * x).sum()
        return grad_x, grad_w


# -- accumulation and graph shapes ---------------------------------------------------------------
def test_tensor_used_several_times_receives_the_sum_of_its_gradients():
    x = leaf([1.0, 2.0, 3.0])
    (x * x + x + x * 4.0).sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 5.0)


def test_grad_accumulates_across_two_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), 3.0 + 2 * x.numpy())


def test_chain_of_20000_ops_backpropagates_without_recursion_error():
    x = leaf(1.0)
    y = x
    for _ in range(20000):
        y = y * 1.0001
    y.backward()
    numpy.testing.assert_allclose(x.grad.item(), 1.0001 ** 20000, rtol=1e-9)


def test_diamond_graph_sums_both_paths():
    x = leaf([0.5, -1.5])
    a = x * 2.0
    left, right = a + 1.0, a * 3.0
    (left * right).sum().backward()
    # d/dx (2x + 1)(6x) = 24x + 6
    numpy.testing.assert_allclose(x.grad.numpy(), 24 * x.numpy() + 6.0)


def test_node_reused_in_a_diamond_runs_its_backward_once_with_the_full_gradient():
    calls = []

    class Double(sg.Function):
        def forward(self, x):
            return 2 * x

        def backward(self, grad_output):
            calls.append(grad_output.numpy().copy())
            return (grad_output * 2.0,)

    x = leaf([1.0])
    shared = Double.apply(x)
    (shared * 3.0 + shared * 5.0).sum().backward()
    assert len(calls) == 1
    numpy.testing.assert_allclose(calls[0], [8.0])
    numpy.testing.assert_allclose(x.grad.numpy(), [16.0])


# -- retain_graph and create_graph ---------------------------------------------------------------
def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    numpy.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy())


def test_second_backward_without_retain_graph_raises_naming_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_create_graph_makes_grad_differentiable():
    x = leaf([1.0, 2.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (second,) = sg.grad(x.grad.sum(), x)
    numpy.testing.assert_allclose(second.numpy(), 6 * x.numpy())


def test_without_create_graph_grad_has_no_graph():
    x = leaf([1.0, 2.0])
    (x ** 3).sum().backward()
    assert not x.grad.requires_grad and x.grad.is_leaf


def test_second_derivative_of_cube_is_six_x():
    x = leaf([-1.5, 0.5, 2.0])
    (first,) = sg.grad((x ** 3).sum(), x, create_graph=True)
    numpy.testing.assert_allclose(first.numpy(), 3 * x.numpy() ** 2)
    (second,) = sg.grad(first.sum(), x)
    numpy.testing.assert_allclose(second.numpy(), 6 * x.numpy())


# -- sg.grad against torch.autograd.grad -----------------------------------------------------------
def test_grad_with_grad_outputs_matches_torch(torch):
    values, cotangent = numpy.array([0.3, -1.2, 2.0]), numpy.array([1.0, -2.0, 0.5])
    x = leaf(values)
    (ours,) = sg.grad((x * x).exp(), x, grad_outputs=sg.Tensor(cotangent))
    tx = torch.tensor(values, requires_grad=True)
    (theirs,) = torch.autograd.grad((tx * tx).exp(), tx, grad_outputs=torch.tensor(cotangent))
    numpy.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_grad_allow_unused_returns_none_as_torch(torch):
    x, unused = leaf([1.0, 2.0]), leaf([3.0])
    ours = sg.grad((x * x).sum(), [x, unused], allow_unused=True)
    tx, tunused = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0], requires_grad=True)
    theirs = torch.autograd.grad((tx * tx).sum(), [tx, tunused], allow_unused=True)
    assert ours[1] is None and theirs[1] is None
    numpy.testing.assert_allclose(ours[0].numpy(), theirs[0].numpy())


def test_grad_of_unused_input_without_allow_unused_raises_as_torch(torch):
    tx, tunused = torch.tensor([1.0], requires_grad=True), torch.tensor([3.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad((tx * tx).sum(), [tx, tunused])
    x, unused = leaf([1.0]), leaf([3.0])
    with pytest.raises(RuntimeError, match="allow_unused"):
        sg.grad((x * x).sum(), [x, unused])


def test_grad_with_respect_to_non_leaf_inputs_matches_torch(torch):
    values = numpy.array([0.5, 1.5])
    x = leaf(values)
    hidden = x.sigmoid()
    (ours,) = sg.grad((hidden ** 3).sum(), hidden)
    tx = torch.tensor(values, requires_grad=True)
    thidden = tx.sigmoid()
    (theirs,) = torch.autograd.grad((thidden ** 3).sum(), thidden)
    numpy.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_grad_of_several_outputs_sums_them_as_torch(torch):
    values = numpy.array([0.5, -1.5])
    x = leaf(values)
    ours = sg.grad([(x * x).sum(), x.tanh()], x, grad_outputs=[None, sg.Tensor([1.0, 2.0], dtype=numpy.float64)])
    tx = torch.tensor(values, requires_grad=True)
    theirs = torch.autograd.grad([(tx * tx).sum(), tx.tanh()], tx,
                                 grad_outputs=[None, torch.tensor([1.0, 2.0])])
    numpy.testing.assert_allclose(ours[0].numpy(), theirs[0].numpy(), rtol=1e-12)


def test_grad_of_several_inputs_matches_torch(torch):
    a_values, b_values = numpy.array([[0.5, 1.0], [2.0, -1.0]]), numpy.array([1.5, -0.5])
    a, b = leaf(a_values), leaf(b_values)
    ours = sg.grad(((a @ b) ** 2).sum(), [a, b])
    ta, tb = torch.tensor(a_values, requires_grad=True), torch.tensor(b_values, requires_grad=True)
    theirs = torch.autograd.grad(((ta @ tb) ** 2).sum(), [ta, tb])
    for mine, reference in zip(ours, theirs):
        numpy.testing.assert_allclose(mine.numpy(), reference.numpy(), rtol=1e-12)


def test_grad_frees_the_graph_by_default_as_torch(torch):
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = (tx * tx).sum()
    torch.autograd.grad(ty, tx)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(ty, tx)
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    sg.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        sg.grad(y, x)


def test_grad_retains_the_graph_when_create_graph_as_torch(torch):
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = (tx * tx).sum()
    torch.autograd.grad(ty, tx, create_graph=True)
    (theirs,) = torch.autograd.grad(ty, tx)
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    sg.grad(y, x, create_graph=True)
    (ours,) = sg.grad(y, x)
    numpy.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_grad_does_not_accumulate_into_dot_grad():
    x = leaf([1.0, 2.0])
    sg.grad((x * x).sum(), x)
    assert x.grad is None


def test_grad_with_respect_to_an_intermediate_tensor():
    x = leaf([1.0, 2.0])
    hidden = x * 2.0
    (gradient,) = sg.grad((hidden * hidden).sum(), hidden)
    numpy.testing.assert_allclose(gradient.numpy(), 2 * hidden.numpy())


def test_grad_with_respect_to_leaf_and_intermediate_together():
    x = leaf([1.0, 2.0])
    hidden = x * 2.0
    grad_x, grad_hidden = sg.grad((hidden * hidden).sum(), [x, hidden])
    numpy.testing.assert_allclose(grad_hidden.numpy(), 2 * hidden.numpy())
    numpy.testing.assert_allclose(grad_x.numpy(), 8 * x.numpy())


# -- root gradients ----------------------------------------------------------------------------
def test_backward_on_non_scalar_without_gradient_raises_clearly():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2.0).backward()


def test_backward_with_explicit_gradient_of_the_output_shape_works():
    x = leaf([1.0, 2.0])
    (x * 2.0).backward(sg.Tensor(numpy.array([1.0, 3.0])))
    numpy.testing.assert_allclose(x.grad.numpy(), [2.0, 6.0])


def test_backward_with_gradient_of_wrong_shape_raises():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        (x * 2.0).backward(sg.Tensor(numpy.ones(3)))


def test_backward_on_output_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (sg.Tensor([1.0]) * 2.0).sum().backward()


# -- grad modes ----------------------------------------------------------------------------------
def test_no_grad_context_builds_no_graph():
    x = leaf([1.0, 2.0])
    with sg.no_grad():
        y = x * 2.0 + 1.0
    assert not y.requires_grad and y.is_leaf


def test_no_grad_decorator_with_parentheses_builds_no_graph():
    @sg.no_grad()
    def double(t):
        return t * 2.0

    y = double(leaf([1.0]))
    assert not y.requires_grad and y.is_leaf


def test_no_grad_decorator_without_parentheses_builds_no_graph():
    @sg.no_grad
    def double(t):
        return t * 2.0

    y = double(leaf([1.0]))
    assert not y.requires_grad and y.is_leaf
    assert sg.is_grad_enabled()


def test_enable_grad_inside_no_grad_builds_the_graph():
    x = leaf([1.0, 2.0])
    with sg.no_grad():
        with sg.enable_grad():
            y = x * 2.0
        z = x * 2.0
    assert y.requires_grad and not y.is_leaf
    assert not z.requires_grad


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with sg.no_grad():
            1 / 0
    assert sg.is_grad_enabled()


def test_backward_without_create_graph_builds_no_graph_inside_backward():
    x = leaf([1.0, 2.0])
    (gradient,) = sg.grad((x ** 3).sum(), x)
    assert not gradient.requires_grad


# -- in-place changes ----------------------------------------------------------------------------
def test_changing_saved_input_data_after_forward_makes_backward_raise():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y = (x * w).sum()
    w.data = w.data + 1
    with pytest.raises(RuntimeError, match="in place"):
        y.backward()


def test_optimizer_step_after_forward_makes_backward_raise():
    w = leaf([3.0, 4.0])
    optimizer = sg.optim.SGD([w], lr=0.1)
    y = (w * w).sum()
    loss = (w * w).sum()
    y.backward()
    optimizer.step()
    with pytest.raises(RuntimeError, match="in place"):
        loss.backward()


def test_change_of_an_input_that_backward_does_not_read_is_allowed():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y = (x + w).sum()
    w.data = w.data + 1
    y.backward()
    numpy.testing.assert_allclose(w.grad.numpy(), [1.0, 1.0])


# -- needs_input_grad --------------------------------------------------------------------------
def test_grad_with_respect_to_input_skips_parameter_gradients():
    CountingScale.calls.update(x=0, w=0)
    x, w = leaf([1.0, 2.0]), leaf(3.0)
    (gradient,) = sg.grad(CountingScale.apply(x, w).sum(), x)
    assert CountingScale.calls == {"x": 1, "w": 0}
    numpy.testing.assert_allclose(gradient.numpy(), [3.0, 3.0])


def test_grad_with_respect_to_input_of_a_module_leaves_parameter_grads_none():
    layer = sg.nn.Linear(3, 2, dtype=numpy.float64)
    x = leaf(numpy.ones((4, 3)))
    sg.grad(layer(x).tanh().sum(), x)
    assert all(p.grad is None for p in layer.parameters())


def test_needs_input_grad_is_false_for_inputs_without_requires_grad():
    CountingScale.calls.update(x=0, w=0)
    x, w = sg.Tensor(numpy.array([1.0, 2.0])), leaf(3.0)
    CountingScale.apply(x, w).sum().backward()
    assert CountingScale.calls == {"x": 0, "w": 1}
    assert x.grad is None


# -- custom Functions and the checkers ------------------------------------------------------------
def test_custom_function_passes_gradcheck():
    assert sg.gradcheck(Cube.apply, leaf([0.5, -1.2, 2.0]))


def test_custom_function_passes_gradgradcheck():
    assert sg.gradgradcheck(Cube.apply, leaf([0.5, -1.2, 2.0]))


def test_gradcheck_passes_on_a_composite_of_two_inputs():
    a, b = leaf([[0.5, 1.0], [2.0, -1.0]]), leaf([1.5, -0.5])
    assert sg.gradcheck(lambda a, b: (a @ b).tanh() * b, (a, b))


def test_gradgradcheck_passes_on_a_composite_of_two_inputs():
    a, b = leaf([[0.5, 1.0], [2.0, -1.0]]), leaf([1.5, -0.5])
    assert sg.gradgradcheck(lambda a, b: (a @ b).sigmoid() * b.exp(), (a, b))


def test_gradcheck_fails_on_a_wrong_backward_naming_input_element_and_values():
    x = leaf([0.5, -1.2, 2.0])
    with pytest.raises(sg.GradcheckError) as info:
        sg.gradcheck(CubeWrongBackward.apply, x)
    message = str(info.value)
    assert "input 0" in message
    assert "element (0,)" in message
    assert "analytic" in message and "numeric" in message


def test_gradcheck_error_names_the_second_input_when_it_is_wrong():
    class ScaleWrongWeightGrad(sg.Function):
        def forward(self, x, w):
            return x * w

        def backward(self, grad_output):
            x, w = self.inputs
            return grad_output * w, grad_output * x * 2.0

    with pytest.raises(sg.GradcheckError, match=r"input 1 at element \(0,\)"):
        sg.gradcheck(ScaleWrongWeightGrad.apply, (leaf([1.0, 2.0]), leaf([3.0, 4.0])))


def test_gradcheck_error_reports_the_analytic_and_numeric_values():
    x = leaf([2.0])
    with pytest.raises(sg.GradcheckError) as info:
        sg.gradcheck(CubeWrongBackward.apply, x)
    number = r"(-?\d+\.\d+(?:e-?\d+)?)"
    analytic = float(re.search(r"analytic (?:np\.float64\()?" + number, str(info.value)).group(1))
    numeric = float(re.search(r"numeric (?:np\.float64\()?" + number, str(info.value)).group(1))
    # L = v x^3 for gradcheck's random cotangent v: analytic 2 x^2 v (wrong), numeric 3 x^2 v
    assert numeric == pytest.approx(1.5 * analytic, rel=1e-6)
    assert analytic != 0.0


def test_gradcheck_returns_false_without_raising_when_asked():
    assert sg.gradcheck(CubeWrongBackward.apply, leaf([1.0]), raise_exception=False) is False


def test_gradgradcheck_fails_on_backward_written_on_raw_arrays():
    x = leaf([0.5, -1.2, 2.0])
    assert sg.gradcheck(CubeBackwardOnArrays.apply, x)  # the first derivative is right
    with pytest.raises(sg.GradcheckError, match="input 0"):
        sg.gradgradcheck(CubeBackwardOnArrays.apply, x)


def test_gradcheck_rejects_float32_inputs_with_type_error():
    with pytest.raises(TypeError, match="float64"):
        sg.gradcheck(Cube.apply, leaf([1.0], dtype=numpy.float32))


def test_gradgradcheck_rejects_float32_inputs_with_type_error():
    with pytest.raises(TypeError, match="float64"):
        sg.gradgradcheck(Cube.apply, leaf([1.0], dtype=numpy.float32))


# -- dtypes across mixed-precision ops -------------------------------------------------------------
def test_mixed_dtype_op_returns_each_inputs_gradient_in_its_dtype():
    a = leaf([1.0, 2.0], dtype=numpy.float32)
    b = leaf([3.0, 4.0], dtype=numpy.float64)
    (a * b).sum().backward()
    assert a.grad.dtype == numpy.float32
    assert b.grad.dtype == numpy.float64
    numpy.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])


def test_float32_times_float64_constant_gives_float32_gradient_via_grad():
    a = leaf([1.0, 2.0], dtype=numpy.float32)
    (gradient,) = sg.grad((a * sg.Tensor(numpy.array([0.5, 0.25]))).sum(), a)
    assert gradient.dtype == numpy.float32


def test_a_spent_graph_holds_no_activations_while_its_loss_is_referenced():
    """After backward (graph not retained) each node drops its saved inputs and arrays, as
    PyTorch frees saved tensors: a loss kept in a variable no longer pins the activations."""
    import gc
    import weakref

    x = sg.Tensor(numpy.ones((4, 3)), requires_grad=True)
    hidden = (x * 2.0).tanh()
    probe = weakref.ref(hidden)
    loss = (hidden * hidden).sum()
    del hidden
    loss.backward()
    gc.collect()
    assert probe() is None, "the intermediate tensor outlived the backward that spent it"
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_a_new_graph_through_a_spent_one_is_refused_as_pytorch_refuses_it():
    """h's node was freed by the first grad; a second graph that needs its backward must
    say so, not find no path and report that x was unused (or return None)."""
    x = sg.Tensor(numpy.array([0.3]), requires_grad=True)
    h = x * 2.0
    sg.grad((h * h).sum(), [x])
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        sg.grad((h * 3.0).sum(), [x], allow_unused=True)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        (h * 3.0).sum().backward()


def test_a_spent_graph_is_not_needed_for_a_gradient_that_stops_before_it():
    x = sg.Tensor(numpy.array([0.3]), requires_grad=True)
    w = sg.Tensor(numpy.array([0.5]), requires_grad=True)
    h = w * 2.0
    (h * h).sum().backward()
    assert sg.grad((h * 3.0).sum(), [h])[0].item() == 3.0  # h is the target: its node is not run
    assert sg.grad((h * 3.0 + x).sum(), [x])[0].item() == 1.0  # h's branch does not reach x
