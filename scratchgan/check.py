"""Public checks: finite-difference ``gradcheck`` / ``gradgradcheck`` and a PyTorch parity report.

``gradcheck(fn, inputs)`` contracts the outputs with a fixed random cotangent v, so one
backward gives the analytic gradient of L = <v, fn(inputs)>, and compares every element
with the central difference (L(x + eps e_i) - L(x - eps e_i)) / 2 eps in float64.
``gradgradcheck`` runs ``gradcheck`` on the function that returns first derivatives
(computed with ``create_graph=True``), which checks every second derivative.
``compare_with_torch`` is for the engineer checking a framework: same weights, same
inputs, and the largest differences of outputs and gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy

from scratchgan.autograd import engine
from scratchgan.autograd.tensor import Tensor


class GradcheckError(AssertionError):
    """An analytic derivative disagrees with its finite-difference estimate."""


def _as_outputs(result):
    outputs = (result,) if isinstance(result, Tensor) else tuple(result)
    for position, output in enumerate(outputs):
        if output is not None and not isinstance(output, Tensor):
            raise TypeError(f"gradcheck: output {position} is a {type(output).__name__}, not a Tensor")
    return outputs


def _check_inputs(inputs, caller):
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    differentiable = []
    for position, tensor in enumerate(inputs):
        if isinstance(tensor, Tensor) and tensor.requires_grad:
            if tensor.dtype != numpy.float64:
                raise TypeError(
                    f"{caller}: input {position} has dtype {tensor.dtype}; finite differences "
                    f"need float64 inputs (use .double())"
                )
            differentiable.append(position)
    if not differentiable:
        raise ValueError(f"{caller}: no input requires grad; nothing to check")
    return inputs, differentiable


def _contract(outputs, cotangents):
    """L = sum_k <v_k, y_k>, a scalar Tensor (or float without a graph)."""
    total = None
    for output, v in zip(outputs, cotangents):
        if output is None:
            continue
        term = (output * Tensor(v)).sum()
        total = term if total is None else total + term
    return total


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, raise_exception=True):
    """True if every analytic first derivative of ``fn`` at ``inputs`` matches central differences.

    ``inputs``: a Tensor or tuple of Tensors; those with requires_grad are checked and
    must be float64. Raises ``GradcheckError`` naming the input, the element (index), the
    analytic and the numeric value (or returns False with raise_exception=False).
    """
    inputs, positions = _check_inputs(inputs, "gradcheck")
    outputs = _as_outputs(fn(*inputs))
    rng = numpy.random.default_rng(seed)
    cotangents = [None if y is None else rng.standard_normal(y.shape) for y in outputs]
    differentiable = [y is not None and y.requires_grad for y in outputs]
    loss = _contract([y if d else None for y, d in zip(outputs, differentiable)], cotangents)
    targets = [inputs[p] for p in positions]
    if loss is None:
        analytic = [numpy.zeros(t.shape) for t in targets]
    else:
        grads = engine.grad(loss, targets, allow_unused=True)
        analytic = [numpy.zeros(t.shape) if g is None else g.numpy() for g, t in zip(grads, targets)]

    def value_at():  # grad mode stays on: fn may itself differentiate (gradgradcheck)
        return sum(float((y.numpy() * v).sum())
                   for y, v in zip(_as_outputs(fn(*inputs)), cotangents) if y is not None)

    for position, tensor, grad in zip(positions, targets, analytic):
        data = tensor.data
        for index in numpy.ndindex(*tensor.shape):
            original = data[index]
            data[index] = original + eps
            plus = value_at()
            data[index] = original - eps
            minus = value_at()
            data[index] = original
            numeric = (plus - minus) / (2 * eps)
            if abs(grad[index] - numeric) > atol + rtol * abs(numeric):
                message = (
                    f"gradcheck: d/d input {position} at element {index}: analytic "
                    f"{grad[index]!r} != numeric {numeric!r} (atol={atol}, rtol={rtol})"
                )
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0,
                  raise_exception=True):
    """True if every second derivative of ``fn`` matches finite differences of its first derivative.

    Builds h(inputs, v) = d<v, fn(inputs)>/d inputs with ``create_graph=True`` and runs
    ``gradcheck`` on h over the inputs and the cotangents v (so the part linear in v is
    checked too).
    """
    inputs, positions = _check_inputs(inputs, "gradgradcheck")
    outputs = _as_outputs(fn(*inputs))
    rng = numpy.random.default_rng(seed + 1)
    if grad_outputs is None:
        grad_outputs = [Tensor(rng.standard_normal(y.shape), requires_grad=True) for y in outputs]
    else:
        grad_outputs = list(_as_outputs(grad_outputs))
    count = len(inputs)

    def first_derivatives(*args):
        xs, vs = args[:count], args[count:]
        ys = _as_outputs(fn(*xs))
        loss = None
        for y, v in zip(ys, vs):
            term = (y * v).sum()
            loss = term if loss is None else loss + term
        targets = [xs[p] for p in positions]
        grads = engine.grad(loss, targets, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivatives, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, seed=seed + 2, raise_exception=raise_exception)


# -- parity with PyTorch --------------------------------------------------------------------
@dataclass
class ParityReport:
    """Largest absolute and relative differences, per compared quantity."""

    rows: dict = field(default_factory=dict)  # name -> (max_abs_diff, max_rel_diff)

    def add(self, name, ours, theirs):
        ours, theirs = numpy.asarray(ours, dtype=numpy.float64), numpy.asarray(theirs, dtype=numpy.float64)
        if ours.shape != theirs.shape:
            raise ValueError(f"compare_with_torch: {name} has shape {ours.shape} here and {theirs.shape} in PyTorch")
        diff = numpy.abs(ours - theirs)
        scale = numpy.maximum(numpy.abs(theirs), numpy.finfo(numpy.float64).tiny)
        self.rows[name] = (float(diff.max(initial=0.0)), float((diff / scale).max(initial=0.0)))

    @property
    def max_abs(self) -> float:
        return max((a for a, _ in self.rows.values()), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((r for _, r in self.rows.values()), default=0.0)

    def __str__(self):
        width = max((len(n) for n in self.rows), default=4)
        lines = [f"{'quantity':<{width}}  max |diff|    max rel diff"]
        lines += [f"{name:<{width}}  {a:.3e}     {r:.3e}" for name, (a, r) in self.rows.items()]
        return "\n".join(lines)


def compare_with_torch(torch_module, module, inputs, loss_fn=None, copy_weights=True):
    """Run a PyTorch module and its scratchgan twin on the same inputs; report the differences.

    ``inputs``: NumPy arrays (floating ones get gradients). ``loss_fn(output)`` reduces the
    output to a scalar on both sides (it receives either framework's tensor and must use
    only operators both share, e.g. ``lambda y: (y * y).sum()``); by default the sum.
    With ``copy_weights`` the PyTorch weights are loaded into ``module`` first.
    Compares the output, each floating input's gradient and each parameter's gradient.
    """
    import torch  # test/benchmark dependency, imported only here

    if copy_weights:
        module.load_state_dict({k: v.detach().cpu().numpy() for k, v in torch_module.state_dict().items()})
    inputs = [numpy.asarray(x) for x in inputs]
    torch_inputs = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    ours_inputs = [Tensor(x.copy(), requires_grad=x.dtype.kind == "f") for x in inputs]
    loss_fn = loss_fn or (lambda y: y.sum())
    torch_module.zero_grad()
    module.zero_grad()
    torch_out = torch_module(*torch_inputs)
    ours_out = module(*ours_inputs)
    loss_fn(torch_out).backward()
    loss_fn(ours_out).backward()
    report = ParityReport()
    report.add("output", ours_out.numpy(), torch_out.detach().numpy())
    for position, (ours, theirs) in enumerate(zip(ours_inputs, torch_inputs)):
        if theirs.requires_grad:
            report.add(f"grad input {position}", ours.grad.numpy(), theirs.grad.numpy())
    ours_params = dict(module.named_parameters())
    for name, theirs in torch_module.named_parameters():
        if theirs.grad is not None:
            mine = ours_params[name].grad
            report.add(f"grad {name}", mine.numpy() if mine is not None else numpy.zeros(theirs.shape),
                       theirs.grad.numpy())
    return report
