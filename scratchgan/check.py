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

import contextlib
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
RELATIVE_FLOOR = 1e-12  # relative errors are taken against at least this fraction of a row's scale
MISSING_STATUSES = ("no gradient: ours", "no gradient: theirs")


@dataclass
class ParityRow:
    """One compared quantity. ``status``: "compared", "both zero" (None or exactly 0 on both
    sides), "zero: ours" / "zero: theirs" (exactly 0 on one side only), "no gradient: ours" /
    "no gradient: theirs" (None on one side, nonzero on the other) or "shape differs"."""

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


def _compare_arrays(name, ours, theirs, shape=()):
    """The ``ParityRow`` of one quantity; ``ours`` or ``theirs`` may be None (no gradient),
    ``shape`` is the row's shape when both are."""
    as_array = lambda a: None if a is None else numpy.asarray(a, dtype=numpy.float64)  # noqa: E731
    ours, theirs = as_array(ours), as_array(theirs)
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

    def add(self, name, ours, theirs, shape=()):
        """Compare ``ours`` with ``theirs`` (arrays, numbers, or None for a missing gradient)."""
        self.rows[name] = _compare_arrays(name, ours, theirs, shape)
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


# -- replaying the other framework's random draws --------------------------------------------
TORCH_RANDOM_FUNCTIONS = ("rand", "randn", "rand_like", "randn_like", "randint", "randint_like",
                          "normal", "bernoulli", "randperm")
TORCH_RANDOM_METHODS = ("uniform_", "normal_")  # torch.Tensor methods, recorded after filling
NUMPY_RANDOM_FUNCTIONS = ("rand", "randn", "random", "random_sample", "uniform", "normal",
                          "standard_normal", "randint", "choice", "permutation", "binomial",
                          "poisson", "exponential", "laplace", "beta", "gamma")
GENERATOR_METHODS = ("random", "uniform", "normal", "standard_normal", "integers", "choice",
                     "permutation", "binomial", "poisson", "exponential", "laplace", "beta", "gamma")


class _RandomRecorder:
    """Wraps the random functions listed above while active; ``draws`` holds their results
    as NumPy arrays in call order. A draw made inside another recorded call is not repeated."""

    def __init__(self, torch):
        self.torch, self.draws, self._saved, self._depth = torch, [], [], 0

    def _recording(self, function, result_of=None):
        def recorded(*args, **kwargs):
            self._depth += 1
            try:
                result = function(*args, **kwargs)
            finally:
                self._depth -= 1
            if self._depth == 0:
                drawn = result if result_of is None else args[0]
                if isinstance(drawn, self.torch.Tensor):
                    drawn = drawn.detach().cpu().numpy()
                self.draws.append(numpy.array(drawn, copy=True))
            return result
        return recorded

    def _replace(self, owner, name, replacement):
        self._saved.append((owner, name, owner.__dict__.get(name, _ABSENT)))
        setattr(owner, name, replacement)

    def __enter__(self):
        torch = self.torch
        for name in TORCH_RANDOM_FUNCTIONS:
            self._replace(torch, name, self._recording(getattr(torch, name)))
        for name in TORCH_RANDOM_METHODS:
            self._replace(torch.Tensor, name, self._recording(getattr(torch.Tensor, name), result_of="self"))
        for name in NUMPY_RANDOM_FUNCTIONS:
            self._replace(numpy.random, name, self._recording(getattr(numpy.random, name)))
        self._replace(numpy.random, "default_rng", self._recording_default_rng(numpy.random.default_rng))
        return self

    def _recording_default_rng(self, default_rng):
        # Generator is an immutable extension type, so its methods cannot be wrapped in place:
        # generators made while recording are instances of a subclass that records instead
        recorder = self
        methods = {name: (lambda name: lambda generator, *args, **kwargs: recorder._recording(
            getattr(numpy.random.Generator, name))(generator, *args, **kwargs))(name)
            for name in GENERATOR_METHODS}
        recording_generator = type("RecordingGenerator", (numpy.random.Generator,), methods)

        def recording_default_rng(seed=None):
            return recording_generator(default_rng(seed).bit_generator)
        return recording_default_rng

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._saved):
            if original is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._saved.clear()
        return False


_ABSENT = object()


# -- compare_functions -------------------------------------------------------------------------
def _split_inputs(inputs, constants, caller):
    """[(row name, key, array or value, differentiable)], and whether keys are keyword names."""
    keyword = isinstance(inputs, dict)
    items = list(inputs.items()) if keyword else list(enumerate(inputs))
    known = {key for key, _ in items} | set(range(len(items)))
    unknown = [c for c in constants if c not in known]
    if unknown:
        raise ValueError(f"{caller}: constants {unknown} name no input (inputs: {[k for k, _ in items]})")
    split = []
    for position, (key, value) in enumerate(items):
        if isinstance(value, numpy.ndarray):
            differentiable = (value.dtype.kind == "f" and key not in constants
                              and position not in constants)
        else:
            differentiable = False  # Python numbers and other objects pass through unchanged
        split.append((f"grad input {key}", key, value, differentiable))
    return split, keyword


def _copy_weights(their_module, module, caller):
    """Load their state dict into ``module``, naming the first parameter that does not match."""
    theirs = {k: v.detach().cpu().numpy() for k, v in their_module.state_dict().items()}
    own = module.state_dict()
    for name in list(theirs) + [n for n in own if n not in theirs]:
        if name not in own or name not in theirs:
            side = "scratchgan" if name not in own else "PyTorch"
            raise KeyError(f"{caller}: parameter or buffer {name!r} is missing in the {side} module "
                           f"(PyTorch has {sorted(theirs)}, scratchgan has {sorted(own)})")
        if tuple(theirs[name].shape) != tuple(own[name].shape):
            raise ValueError(f"{caller}: {name!r} has shape {tuple(theirs[name].shape)} in PyTorch "
                             f"and {tuple(own[name].shape)} in scratchgan")
    module.load_state_dict(theirs)


def _call(function, module, values, keys, keyword, extra):
    if keyword:
        return function(module, **dict(zip(keys, values)), **extra)
    return function(module, *values, **extra)


def _torch_gradients(torch, loss, targets, create_graph):
    if not isinstance(loss, torch.Tensor) or not loss.requires_grad or not targets:
        return [None] * len(targets)
    return list(torch.autograd.grad(loss, targets, create_graph=create_graph, allow_unused=True))


def _our_gradients(loss, targets, create_graph):
    if not isinstance(loss, Tensor) or not loss.requires_grad or not targets:
        return [None] * len(targets)
    return list(engine.grad(loss, targets, create_graph=create_graph, allow_unused=True))


def _sum_of_squares(gradients):
    """sum_i sum(g_i^2) over the gradients that exist, or None when none does."""
    total = None
    for gradient in gradients:
        if gradient is not None:
            term = (gradient * gradient).sum()
            total = term if total is None else total + term
    return total


def _scalar(result, output, caller, side):
    reduce = output if output is not None else (lambda y: y.sum())
    loss = reduce(result)
    if tuple(loss.shape) != ():
        raise ValueError(f"{caller}: {side} reduced to shape {tuple(loss.shape)}, expected a scalar")
    return loss


def _as_array(tensor):
    if tensor is None:
        return None
    return tensor.numpy() if isinstance(tensor, Tensor) else tensor.detach().cpu().numpy()


def _run_side(side, function, module, inputs, keys, keyword, extra, gradients_of, context):
    """Value, first-order and (optionally) second-order gradients of one framework's scalar."""
    values, input_targets = inputs
    parameters = _trainable(module)
    result = _call(function, module, values, keys, keyword, extra)
    loss = _scalar(result, context["output"], context["caller"], side)
    targets = input_targets + [p for _, p in parameters]
    first = gradients_of(loss, targets, context["second_order"])
    second = None
    if context["second_order"]:
        penalty = _sum_of_squares(first[:len(input_targets)])
        if penalty is None:  # no input gradient at all: differentiate the parameters' instead
            penalty = _sum_of_squares(first[len(input_targets):])
        second = gradients_of(penalty, targets, False)
    return result, first, second, [(name, tuple(p.shape)) for name, p in parameters]


def compare_functions(theirs, ours, their_module, module, inputs, *, constants=(), output=None,
                      capture_random=False, second_order=False, copy_weights=True):
    """Compare a PyTorch computation ``theirs(their_module, *inputs)`` with its scratchgan twin
    ``ours(module, *inputs)`` in one call; returns a ``ParityReport``.

    ``inputs``: a sequence (passed positionally) or a dict (passed as keywords) of NumPy
    arrays and plain values. Floating arrays become tensors that require grad on both sides,
    except the positions or names in ``constants`` (no gradient, no row); other arrays become
    tensors without grad, and anything else (Python numbers) passes through unchanged.
    Either module may be None (a pure function). ``output`` reduces each side's result to the
    differentiated scalar (default: the sum, so a scalar result is used as is).
    Rows: the value, the gradient of every differentiable input ("grad input <key>") and of
    every parameter ("grad <name>"); with ``second_order`` also "grad2 <key or name>", the
    gradients of S = sum of squares of the input gradients (built with create_graph on both
    sides; of the parameter gradients when no input has one), what a gradient penalty's update
    differentiates. ``capture_random``: the draws ``theirs`` makes (see TORCH_RANDOM_FUNCTIONS,
    TORCH_RANDOM_METHODS, NUMPY_RANDOM_FUNCTIONS and GENERATOR_METHODS, the last for generators
    made with numpy.random.default_rng inside ``theirs``) are recorded as NumPy arrays in call
    order and passed to ``ours`` as ``draws=[...]``. With ``copy_weights`` their state dict is
    loaded into ``module`` first. A gradient missing on one side is a row, never an error.
    """
    return _compare(theirs, ours, their_module, module, inputs, constants, output, capture_random,
                    second_order, copy_weights, "compare_functions", "value")


def _trainable(module):
    return [] if module is None else [(n, p) for n, p in module.named_parameters() if p.requires_grad]


def _compare(theirs, ours, their_module, module, inputs, constants, output, capture_random,
             second_order, copy_weights, caller, value_name):
    import torch  # test/benchmark dependency, imported only here

    split, keyword = _split_inputs(inputs, constants, caller)
    if copy_weights and their_module is not None and module is not None:
        _copy_weights(their_module, module, caller)
    keys = [key for _, key, _, _ in split]
    their_values = [torch.tensor(v, requires_grad=d) if isinstance(v, numpy.ndarray) else v
                    for _, _, v, d in split]
    our_values = [Tensor(v.copy(), requires_grad=d) if isinstance(v, numpy.ndarray) else v
                  for _, _, v, d in split]
    differentiable = [d for _, _, _, d in split]
    pick = lambda values: [v for v, d in zip(values, differentiable) if d]  # noqa: E731
    context = {"output": output, "caller": caller, "second_order": second_order}
    recorder = _RandomRecorder(torch)
    with recorder if capture_random else contextlib.nullcontext():
        their_side = _run_side("theirs", theirs, their_module, (their_values, pick(their_values)), keys,
                               keyword, {}, lambda l, t, c: _torch_gradients(torch, l, t, c), context)
    extra = {"draws": recorder.draws} if capture_random else {}
    our_side = _run_side("ours", ours, module, (our_values, pick(our_values)), keys, keyword, extra,
                         _our_gradients, context)
    return _report(split, their_side, our_side, second_order, value_name)


def _report(split, their_side, our_side, second_order, value_name):
    their_result, their_first, their_second, their_names = their_side
    our_result, our_first, our_second, our_names = our_side
    report = ParityReport()
    report.add(value_name, _as_array(our_result), _as_array(their_result))
    input_names = [name[len("grad "):] for name, _, _, d in split if d]
    input_shapes = [value.shape for _, _, value, d in split if d]
    shapes = dict(our_names + their_names)
    orders = [("grad", our_first, their_first)]
    if second_order:
        orders.append(("grad2", our_second, their_second))
    for prefix, ours, theirs in orders:
        for position, name in enumerate(input_names):
            report.add(f"{prefix} {name}", _as_array(ours[position]), _as_array(theirs[position]),
                       input_shapes[position])
        our_by_name = dict(zip([n for n, _ in our_names], ours[len(input_names):]))
        their_by_name = dict(zip([n for n, _ in their_names], theirs[len(input_names):]))
        for name in list(their_by_name) + [n for n in our_by_name if n not in their_by_name]:
            report.add(f"{prefix} {name}", _as_array(our_by_name.get(name)), _as_array(their_by_name.get(name)),
                       shapes[name])
    return report


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
    return _compare(apply, apply, torch_module, module, inputs, (), loss_fn, False, False,
                    copy_weights, "compare_with_torch", "output")
