"""Public checks: finite-difference ``gradcheck`` / ``gradgradcheck`` and a PyTorch parity report.

``gradcheck(fn, inputs)`` contracts the outputs with a fixed random cotangent v, so one
backward gives the analytic gradient of L = <v, fn(inputs)>, and compares every element
with the central difference (L(x + eps e_i) - L(x - eps e_i)) / 2 eps in float64.
``gradgradcheck`` runs ``gradcheck`` on the function that returns first derivatives
(computed with ``create_graph=True``), which checks every second derivative.
``compare_functions`` is for the engineer checking a framework: the same computation
written in PyTorch and in scratchgan, the same weights, inputs and random draws, and a
``ParityReport`` row per value and gradient (second order included). ``compare_with_torch``
is its form for a module's forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy

from scratchgan import _frameworks
from scratchgan._frameworks import from_flax_kernel  # noqa: F401  public: check.from_flax_kernel
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
RELATIVE_FLOOR = 1e-12  # relative errors are taken against at least this fraction of a row's scale
MISSING_STATUSES = ("no gradient: ours", "no gradient: theirs")
#: a gradient row whose entries are all within this many units in the last place of the largest
#: entry of its order (every "grad" row, or every "grad2" row) is zero to rounding: an exact
#: zero of the maths (a critic's last bias under a shift-invariant loss) computed as a sum of
#: cancelling terms. It counts as zero, so it compares equal to None or 0 on the other side.
ROUNDING_ULPS = 64


@dataclass
class ParityRow:
    """One compared quantity. ``status``: "compared", "both zero" (None, exactly 0 or zero to
    rounding on both sides, see ROUNDING_ULPS), "zero: ours" / "zero: theirs" (zero on one side
    only), "no gradient: ours" / "no gradient: theirs" (None on one side, nonzero on the other)
    or "shape differs"."""

    name: str
    shape: tuple
    max_abs: float  # max |ours - theirs|
    rel: float  # max_abs / scale
    scale: float  # max(max |theirs|, RELATIVE_FLOOR * max(max |theirs|, max |ours|))
    ratio: float  # median of ours / theirs where |theirs| > 1e-8 max |theirs|; nan if none
    factor: float  # the ratio when ours = ratio * theirs to 1e-8 throughout the row, else nan
    status: str

    def passes(self, rtol, atol):
        if self.status == "both zero":
            return True
        if self.status == "shape differs":
            return False
        return bool(self.max_abs <= atol + rtol * self.scale)


def _max_abs(array):
    return float(numpy.abs(array).max(initial=0.0))


def _status(ours, theirs):
    if ours is None or theirs is None:
        present = theirs if ours is None else ours
        if present is None or not present.any():
            return "both zero"
        return "no gradient: ours" if ours is None else "no gradient: theirs"
    if ours.shape != theirs.shape:
        return "shape differs"
    if not ours.any() and not theirs.any():
        return "both zero"
    if not ours.any() or not theirs.any():
        return "zero: ours" if not ours.any() else "zero: theirs"
    return "compared"


def _ratio_and_factor(ours, theirs):
    """Median of ours / theirs over the elements where theirs is not tiny, and whether the
    whole row is that multiple of theirs (a constant factor, such as a forgotten 1/2)."""
    largest = _max_abs(theirs)
    usable = numpy.abs(theirs) > 1e-8 * largest
    if largest == 0 or not usable.any():
        return float("nan"), float("nan")
    ratio = float(numpy.median(ours[usable] / theirs[usable]))
    misfit = _max_abs(ours - ratio * theirs)
    scaled = max(_max_abs(ours), abs(ratio) * largest)
    return ratio, (ratio if misfit <= 1e-8 * scaled else float("nan"))


def _compare_arrays(name, ours, theirs, shape=(), zero_level=0.0):
    """The ``ParityRow`` of one quantity; ``ours`` or ``theirs`` may be None (no gradient),
    ``shape`` is the row's shape when both are. A side whose entries are all at most
    ``zero_level`` in magnitude counts as zero."""
    as_array = lambda a: None if a is None else numpy.asarray(a, dtype=numpy.float64)  # noqa: E731
    ours, theirs = as_array(ours), as_array(theirs)
    if zero_level > 0:
        rounded = lambda a: a if a is None or _max_abs(a) > zero_level else numpy.zeros_like(a)  # noqa: E731
        ours, theirs = rounded(ours), rounded(theirs)
    status = _status(ours, theirs)
    present = theirs if theirs is not None else ours
    shape = tuple(shape) if present is None else tuple(present.shape)
    if status == "shape differs":
        return ParityRow(name, shape, float("inf"), float("inf"), 0.0, float("nan"), float("nan"), status)
    ours = numpy.zeros(shape) if ours is None else ours
    theirs = numpy.zeros(shape) if theirs is None else theirs
    with numpy.errstate(all="ignore"):  # inf and nan propagate into the row; no warnings
        max_abs = _max_abs(ours - theirs)
        largest = _max_abs(theirs)
        scale = max(largest, RELATIVE_FLOOR * max(largest, _max_abs(ours)))
        rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
        ratio, factor = _ratio_and_factor(ours, theirs)
    return ParityRow(name, shape, max_abs, rel, scale, ratio, factor, status)


@dataclass
class ParityReport:
    """One row per compared quantity (the value, each gradient), scratchgan ("ours") against
    the other framework ("theirs"); ``rows`` maps each name to its ``ParityRow``."""

    rows: dict = field(default_factory=dict)

    def add(self, name, ours, theirs, shape=(), zero_level=0.0):
        """Compare ``ours`` with ``theirs`` (arrays, numbers, or None for a missing gradient);
        a side with every entry at most ``zero_level`` in magnitude counts as zero."""
        self.rows[name] = _compare_arrays(name, ours, theirs, shape, zero_level)
        return self.rows[name]

    def __getitem__(self, name):
        return self.rows[name]

    @property
    def max_abs(self) -> float:
        return max((row.max_abs for row in self.rows.values()), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((row.rel for row in self.rows.values()), default=0.0)

    def failures(self, rtol=1e-10, atol=0.0):
        """The rows with max |ours - theirs| > atol + rtol * scale (see ``ParityRow``)."""
        return [row for row in self.rows.values() if not row.passes(rtol, atol)]

    def common_factor(self):
        """c when every nonzero row is ours = c * theirs with the same c != 1, else None. The
        second-order rows ("grad2 ...") differentiate a sum of squared gradients, so theirs
        scale by c^2."""
        rows = [row for row in self.rows.values() if row.status != "both zero"]
        first = [row.factor for row in rows if not row.name.startswith("grad2 ")]
        second = [row.factor for row in rows if row.name.startswith("grad2 ")]
        if not first or any(f != f for f in first + second):  # f != f: nan, not a constant multiple
            return None
        factor = float(numpy.median(first))
        expected = [(f, factor) for f in first] + [(f, factor * factor) for f in second]
        if any(abs(f - want) > 1e-8 * abs(want) for f, want in expected):
            return None
        return None if abs(factor - 1) <= 1e-8 else factor

    def summary(self, rtol=1e-10, atol=0.0):
        """One line: a shared constant factor, the rows missing on one side, or which rows differ."""
        factor = self.common_factor()
        if factor is not None:
            squared = "; grad2 rows: factor^2" if any(n.startswith("grad2 ") for n in self.rows) else ""
            return f"all rows: factor {factor:.3f} (ours = {factor:.6g} x theirs{squared})"
        failing = self.failures(rtol, atol)
        if not failing:
            return f"all {len(self.rows)} rows agree to rtol={rtol:g} (largest relative error {self.max_rel:.1e})"
        missing = [row.name for row in failing if row.status != "compared"]
        line = f"{len(failing)} of {len(self.rows)} rows differ: " + ", ".join(row.name for row in failing)
        return line + (f"; one side missing or zero: {', '.join(missing)}" if missing else "")

    def assert_close(self, rtol=1e-10, atol=0.0):
        """Raise AssertionError listing the rows with max |diff| > atol + rtol * scale."""
        failing = self.failures(rtol, atol)
        if failing:
            names = ", ".join(row.name for row in failing)
            raise AssertionError(f"parity: {len(failing)} rows differ beyond rtol={rtol:g}, "
                                 f"atol={atol:g}: {names}\n{self}")

    def _cells(self):
        header = ["quantity", "shape", "max |diff|", "rel error", "ratio", "status"]
        body = [[row.name, str(row.shape), f"{row.max_abs:.3e}", f"{row.rel:.3e}",
                 "-" if row.ratio != row.ratio else f"{row.ratio:.4f}", row.status]
                for row in self.rows.values()]
        return header, body

    def __str__(self):
        header, body = self._cells()
        widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                 for line in [header] + body]
        return "\n".join(lines + [self.summary()])

    def to_markdown(self):
        header, body = self._cells()
        escape = lambda line: "| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |"  # noqa: E731
        lines = [escape(header), "|" + " --- |" * len(header)] + [escape(line) for line in body]
        return "\n".join(lines + ["", self.summary()])


# -- compare_functions -------------------------------------------------------------------------
def _inputs(inputs, constants, caller):
    """The ``_frameworks.Inputs`` of a sequence (positional) or dict (keyword) of values."""
    keyword = isinstance(inputs, dict)
    if not keyword and not isinstance(inputs, (list, tuple)):
        raise TypeError(f"{caller}: inputs must be a list, tuple or dict of arrays and values, "
                        f"got {type(inputs).__name__}")
    items = list(inputs.items()) if keyword else list(enumerate(inputs))
    known = {key for key, _ in items} | set(range(len(items)))
    unknown = [c for c in constants if c not in known]
    if unknown:
        raise ValueError(f"{caller}: constants {unknown} name no input (inputs: {[k for k, _ in items]})")
    differentiable = [isinstance(value, numpy.ndarray) and value.dtype.kind == "f"
                      and key not in constants and position not in constants
                      for position, (key, value) in enumerate(items)]  # numbers pass through unchanged
    return _frameworks.Inputs([v for _, v in items], [k for k, _ in items], differentiable, keyword)


def compare_functions(theirs, ours, their_module, module, inputs, *, constants=(), output=None,
                      capture_random=False, second_order=False, copy_weights=True, framework=None,
                      parameter_map=None):
    """Compare a PyTorch or JAX computation ``theirs(their_module, *inputs)`` with its
    scratchgan twin ``ours(module, *inputs)`` in one call; returns a ``ParityReport``.

    ``inputs``: a sequence (passed positionally) or a dict (passed as keywords) of NumPy
    arrays and plain values. Floating arrays become tensors (JAX arrays) differentiated on
    both sides, except the positions or names in ``constants`` (no gradient, no row); other
    arrays become tensors without grad, and anything else (Python numbers) passes through
    unchanged. Either module may be None (a pure function). ``output`` reduces each side's
    result to the differentiated scalar (default: the sum, so a scalar result is used as is).

    Rows: the value, the gradient of every differentiable input ("grad input <key>") and of
    every parameter ("grad <name>", scratchgan's names); with ``second_order`` also "grad2
    <key or name>", the gradients of S = sum of squares of the input gradients (built with
    create_graph on both sides; of the parameter gradients when no input has one), what a
    gradient penalty's update differentiates. A gradient missing on one side is a row, never
    an error.

    ``capture_random``: the draws ``theirs`` makes (_frameworks.TORCH_RANDOM_FUNCTIONS and
    TORCH_RANDOM_METHODS, JAX_RANDOM_FUNCTIONS, NUMPY_RANDOM_FUNCTIONS and, for generators
    made with numpy.random.default_rng inside ``theirs``, GENERATOR_METHODS) are recorded as
    NumPy arrays in call order and passed to ``ours`` as ``draws=[...]``.

    ``framework``: "torch", "jax", or None (JAX when ``their_module`` is a tree of JAX arrays,
    PyTorch otherwise). For JAX, ``their_module`` is a parameter tree: its floating leaves
    are the parameters, named by their path ("params.Dense_0.kernel"), and the comparison
    runs with float64 enabled. With ``copy_weights`` their weights are loaded into
    ``module`` first (PyTorch: the state dict, buffers included). ``parameter_map``
    {our name: their name, or (their name, to_ours)} pairs differently named parameters;
    ``to_ours`` maps their array (and so their gradient) into scratchgan's layout, e.g.
    ``from_flax_kernel``.
    """
    their_side = _frameworks.side(framework, their_module, "compare_functions")
    return _compare(their_side, theirs, ours, their_module, module, inputs, constants, output,
                    capture_random, second_order, copy_weights, parameter_map, "compare_functions", "value")


def _compare(their_side, theirs, ours, their_module, module, inputs, constants, output, capture_random,
             second_order, copy_weights, parameter_map, caller, value_name):
    split = _inputs(inputs, constants, caller)
    mapping = _frameworks._mapping(parameter_map, caller)
    if copy_weights and their_module is not None and module is not None:
        their_side.load_into(their_module, module, mapping, caller)
    run = _frameworks.Run(output, caller, second_order, capture_random)
    their_result = their_side.run(theirs, their_module, split, run)
    our_result = _frameworks.ScratchganSide().run(ours, module, split, run)
    shapes = {} if module is None else {n: tuple(p.shape) for n, p in module.named_parameters()}
    return _report(split, their_result, our_result, mapping, second_order, value_name, shapes)


def _report(split, theirs, ours, mapping, second_order, value_name, parameter_shapes):
    """The value row, then per order the input rows and the parameter rows (theirs renamed
    and laid out as ours; parameters on one side only get a 'no gradient' row)."""
    report = ParityReport()
    report.add(value_name, ours[0], theirs[0])
    shapes = {key: value.shape for key, value, d in zip(split.keys, split.values, split.differentiable) if d}
    orders = [("grad", ours[1:3], theirs[1:3])]
    if second_order:
        orders.append(("grad2", ours[3], theirs[3]))
    for prefix, (our_inputs, our_parameters), (their_inputs, their_parameters) in orders:
        their_parameters = _frameworks.renamed(their_parameters, mapping)
        rows = [(f"{prefix} input {key}", our_inputs[key], their_inputs[key], shapes[key])
                for key in split.differentiable_keys]
        rows += [(f"{prefix} {name}", our_parameters.get(name), their_parameters.get(name),
                  parameter_shapes.get(name, ()))
                 for name in list(their_parameters) + [n for n in our_parameters if n not in their_parameters]]
        level = _rounding_level([array for _, *pair, _ in rows for array in pair])
        for name, mine, reference, shape in rows:
            report.add(name, mine, reference, shape, zero_level=level)
    return report


def _rounding_level(arrays):
    """ROUNDING_ULPS units in the last place of the largest entry among ``arrays`` (None
    skipped), in the coarsest floating dtype among them."""
    present = [numpy.asarray(a) for a in arrays if a is not None]
    floating = [a.dtype for a in present if a.dtype.kind == "f"]
    if not floating:
        return 0.0
    eps = max(numpy.finfo(dtype).eps for dtype in floating)
    return ROUNDING_ULPS * eps * max(_max_abs(a) for a in present)


def compare_with_torch(torch_module, module, inputs, loss_fn=None, copy_weights=True):
    """Run a PyTorch module and its scratchgan twin on the same inputs; report the differences.

    ``inputs``: NumPy arrays (floating ones get gradients). ``loss_fn(output)`` reduces the
    output to a scalar on both sides (it receives either framework's tensor and must use
    only operators both share, e.g. ``lambda y: (y * y).sum()``); by default the sum.
    With ``copy_weights`` the PyTorch weights are loaded into ``module`` first.
    Compares the output, each floating input's gradient and each parameter's gradient:
    ``compare_functions`` with both functions ``lambda m, *x: m(*x)``.
    """
    inputs = [numpy.asarray(x) for x in inputs]
    apply = lambda m, *xs: m(*xs)  # noqa: E731
    return _compare(_frameworks.TorchSide(), apply, apply, torch_module, module, inputs, (), loss_fn,
                    False, False, copy_weights, None, "compare_with_torch", "output")
