"""The other framework's side of ``check.compare_functions``: PyTorch or JAX.

Each side turns NumPy inputs into its own arrays, loads weights into a scratchgan module,
runs the user's function, and returns the value, the first-order gradients and (on request)
the gradients of S = sum of squared input gradients, as NumPy arrays named by scratchgan's
parameter names. ``RandomRecorder`` records the draws the function makes so that scratchgan's
side can replay them. Neither framework is imported before a comparison asks for it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy

from scratchgan.autograd import engine
from scratchgan.autograd.tensor import Tensor

TORCH_RANDOM_FUNCTIONS = ("rand", "randn", "rand_like", "randn_like", "randint", "randint_like",
                          "normal", "bernoulli", "randperm")
TORCH_RANDOM_METHODS = ("uniform_", "normal_")  # torch.Tensor methods, recorded after filling
NUMPY_RANDOM_FUNCTIONS = ("rand", "randn", "random", "random_sample", "uniform", "normal",
                          "standard_normal", "randint", "choice", "permutation", "binomial",
                          "poisson", "exponential", "laplace", "beta", "gamma")
GENERATOR_METHODS = ("random", "uniform", "normal", "standard_normal", "integers", "choice",
                     "permutation", "binomial", "poisson", "exponential", "laplace", "beta", "gamma")
JAX_RANDOM_FUNCTIONS = ("uniform", "normal", "truncated_normal", "bernoulli", "randint", "choice",
                        "permutation", "exponential", "laplace", "gumbel", "logistic", "categorical",
                        "rademacher", "beta", "gamma", "multivariate_normal")

_ABSENT = object()


@dataclass
class Inputs:
    """The comparison's inputs: values (NumPy arrays and plain values) in call order, their
    keys (positions or keyword names), and which ones are differentiated."""

    values: list
    keys: list
    differentiable: list
    keyword: bool

    @property
    def differentiable_keys(self):
        return [key for key, d in zip(self.keys, self.differentiable) if d]


@dataclass
class Run:
    """What both sides of one comparison share: the reduction to a scalar, the caller's name
    for errors, second order or not, and the draws recorded on their side."""

    output: object
    caller: str
    second_order: bool
    capture_random: bool
    draws: list = field(default_factory=list)

    def recorder(self, framework, replay=False):
        if replay:
            return RandomRecorder(framework, self.draws)
        if not (self.capture_random or framework.replays):
            return contextlib.nullcontext()
        recorder = RandomRecorder(framework)
        self.draws = recorder.draws
        return recorder


# -- recording the random draws -----------------------------------------------------------------
class RandomRecorder:
    """While active, wraps the random functions of NumPy and of one framework; ``draws``
    holds their results as NumPy arrays in call order. A draw made inside another recorded
    call is not repeated. ``replay=True``: the wrapped functions return the recorded draws
    again, in order, instead of drawing (a traced second call sees the first call's numbers)."""

    def __init__(self, framework, draws=None):
        self.framework, self._saved, self._depth = framework, [], 0
        self.replay = draws is not None
        self.draws = [] if draws is None else list(draws)
        self._next = 0

    def _recording(self, function, result_of=None):
        def recorded(*args, **kwargs):
            if self.replay and self._depth == 0:
                return self._replayed(function)
            self._depth += 1
            try:
                result = function(*args, **kwargs)
            finally:
                self._depth -= 1
            if self._depth == 0:
                self.draws.append(self.framework.to_numpy(args[0] if result_of == "self" else result))
            return result
        return recorded

    def _replayed(self, function):
        if self._next >= len(self.draws):
            raise RuntimeError(f"compare_functions: theirs made more random draws when called again "
                               f"than the {len(self.draws)} of its first call (at {function.__name__}); "
                               f"it must draw the same numbers on every call")
        self._next += 1
        return self.framework.from_numpy(self.draws[self._next - 1])

    def _replace(self, owner, name, replacement):
        self._saved.append((owner, name, owner.__dict__.get(name, _ABSENT)))
        setattr(owner, name, replacement)

    def __enter__(self):
        for owner, names, result_of in self.framework.random_functions():
            for name in names:
                self._replace(owner, name, self._recording(getattr(owner, name), result_of))
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


# -- parameter names and layouts --------------------------------------------------------------
def from_flax_kernel(kernel):
    """A Flax kernel in scratchgan's (PyTorch's) layout: Dense (in, out) -> (out, in); Conv
    (k, in, out) -> (out, in, k) and (kh, kw, in, out) -> (out, in, kh, kw). A transposition,
    so the same function maps the kernel's gradient."""
    kernel = numpy.asarray(kernel)
    order = {2: (1, 0), 3: (2, 1, 0), 4: (3, 2, 0, 1), 5: (4, 3, 0, 1, 2)}.get(kernel.ndim)
    if order is None:
        raise ValueError(f"from_flax_kernel: expected a 2-d to 5-d kernel, got shape {kernel.shape}")
    return kernel.transpose(order)


def _mapping(parameter_map, caller):
    """{their name: (our name, to_ours)} from the user's {our name: their name or (their
    name, to_ours)}."""
    inverse = {}
    for ours, target in (parameter_map or {}).items():
        theirs, to_ours = target if isinstance(target, tuple) else (target, None)
        if not isinstance(theirs, str) or (to_ours is not None and not callable(to_ours)):
            raise TypeError(f"{caller}: parameter_map[{ours!r}] must be their name or (their name, "
                            f"function to our layout), got {target!r}")
        inverse[theirs] = (ours, to_ours)
    return inverse


def renamed(their_arrays, mapping):
    """{our name: array in our layout} from their {name: array}; unmapped names are kept."""
    result = {}
    for name, array in their_arrays.items():
        ours, to_ours = mapping.get(name, (name, None))
        result[ours] = array if (array is None or to_ours is None) else numpy.asarray(to_ours(array))
    return result


def load_weights(their_arrays, module, required, side, caller):
    """Load their arrays (already in our names and layouts) into ``module``; ``required``:
    our state-dict names that must be covered (all of them for PyTorch, whose state dict
    holds buffers too; the parameters for a JAX tree)."""
    own = module.state_dict()
    names = list(their_arrays) + [n for n in required if n not in their_arrays]
    for name in names:
        if name not in own or name not in their_arrays:
            missing_in = "scratchgan" if name not in own else side
            raise KeyError(f"{caller}: parameter or buffer {name!r} is missing in the {missing_in} "
                           f"module ({side} has {sorted(their_arrays)}, scratchgan has {sorted(own)}; "
                           f"parameter_map= renames theirs)")
        if tuple(their_arrays[name].shape) != tuple(own[name].shape):
            raise ValueError(f"{caller}: {name!r} has shape {tuple(their_arrays[name].shape)} in {side} "
                             f"and {tuple(own[name].shape)} in scratchgan (parameter_map= can give a "
                             f"function to scratchgan's layout, e.g. check.from_flax_kernel)")
    module.load_state_dict({**own, **their_arrays})


def _reduce(result, output, caller, side):
    loss = output(result) if output is not None else result.sum()
    if tuple(loss.shape) != ():
        raise ValueError(f"{caller}: {side} reduced to shape {tuple(loss.shape)}, expected a scalar")
    return loss


def call(function, module, values, keys, keyword, extra=None):
    extra = extra or {}
    if keyword:
        return function(module, **dict(zip(keys, values)), **extra)
    return function(module, *values, **extra)


# -- PyTorch ---------------------------------------------------------------------------------
class TorchSide:
    name = "PyTorch"
    replays = False  # one call gives the value and the gradients: nothing to replay

    def __init__(self):
        import torch  # test/benchmark dependency, imported only when a comparison runs

        self.torch = torch

    def random_functions(self):
        return [(self.torch, TORCH_RANDOM_FUNCTIONS, None), (self.torch.Tensor, TORCH_RANDOM_METHODS, "self")]

    def to_numpy(self, value):
        if isinstance(value, self.torch.Tensor):
            value = value.detach().cpu().numpy()
        return numpy.array(value, copy=True)

    def from_numpy(self, array):
        return self.torch.from_numpy(numpy.array(array, copy=True))

    def parameters(self, their_module):
        if their_module is None:
            return {}
        return {n: p for n, p in their_module.named_parameters() if p.requires_grad}

    def load_into(self, their_module, module, mapping, caller):
        state = {k: v.detach().cpu().numpy() for k, v in their_module.state_dict().items()}
        state = renamed(state, mapping)
        load_weights(state, module, list(module.state_dict()), self.name, caller)

    def run(self, function, their_module, inputs, context):
        """(result, {input key: gradient}, {their name: gradient}, second-order dicts or None)."""
        torch = self.torch
        values = [torch.tensor(v, requires_grad=d) if isinstance(v, numpy.ndarray) else v
                  for v, d in zip(inputs.values, inputs.differentiable)]
        targets = [v for v, d in zip(values, inputs.differentiable) if d]
        parameters = self.parameters(their_module)
        with context.recorder(self):
            result = call(function, their_module, values, inputs.keys, inputs.keyword)
        loss = _reduce(result, context.output, context.caller, "theirs")
        every = targets + list(parameters.values())
        first = self._gradients(loss, every, context.second_order)
        second = None
        if context.second_order:
            penalty = _sum_of_squares(first, len(targets), lambda g: not bool(g.detach().any()))
            second = self._gradients(penalty, every, False)
        return (self.to_numpy(result), *_split(first, inputs.differentiable_keys, parameters, self.to_numpy),
                None if second is None else _split(second, inputs.differentiable_keys, parameters,
                                                   self.to_numpy))

    def _gradients(self, loss, targets, create_graph):
        torch = self.torch
        if not isinstance(loss, torch.Tensor) or not loss.requires_grad or not targets:
            return [None] * len(targets)
        return list(torch.autograd.grad(loss, targets, create_graph=create_graph, allow_unused=True))


def _sum_of_squares(first, input_count, is_zero):
    """S = sum_i sum(g_i^2) over the input gradients, or over the parameter gradients when
    every input gradient is missing or zero (a penalty on detached data): what a gradient
    penalty's update differentiates. None when there is nothing to sum. A zero gradient adds
    nothing to S or to its derivatives, so dropping it changes no value."""
    inputs = [g for g in first[:input_count] if g is not None and not is_zero(g)]
    terms = inputs or [g for g in first[input_count:] if g is not None]
    total = None
    for gradient in terms:
        term = (gradient * gradient).sum()
        total = term if total is None else total + term
    return total


def _split(gradients, input_keys, parameters, to_numpy):
    """({input key: array or None}, {parameter name: array or None}) from one flat list."""
    as_array = lambda g: None if g is None else to_numpy(g)  # noqa: E731
    count = len(input_keys)
    return ({key: as_array(g) for key, g in zip(input_keys, gradients[:count])},
            {name: as_array(g) for name, g in zip(parameters, gradients[count:])})


# -- scratchgan -----------------------------------------------------------------------------
class ScratchganSide:
    name = "scratchgan"

    def run(self, function, module, inputs, context):
        """As ``TorchSide.run``; ``function`` also receives ``draws=[...]`` when the
        comparison captures theirs."""
        values = [Tensor(v.copy(), requires_grad=d) if isinstance(v, numpy.ndarray) else v
                  for v, d in zip(inputs.values, inputs.differentiable)]
        targets = [v for v, d in zip(values, inputs.differentiable) if d]
        parameters = {} if module is None else {n: p for n, p in module.named_parameters() if p.requires_grad}
        extra = {"draws": context.draws} if context.capture_random else {}
        result = call(function, module, values, inputs.keys, inputs.keyword, extra)
        loss = _reduce(result, context.output, context.caller, "ours")
        every = targets + list(parameters.values())
        first = self._gradients(loss, every, context.second_order)
        second = None
        if context.second_order:
            penalty = _sum_of_squares(first, len(targets), lambda g: not g.numpy().any())
            second = _split(self._gradients(penalty, every, False), inputs.differentiable_keys, parameters,
                            _tensor_array)
        return (_tensor_array(result), *_split(first, inputs.differentiable_keys, parameters, _tensor_array),
                second)

    @staticmethod
    def _gradients(loss, targets, create_graph):
        if not isinstance(loss, Tensor) or not loss.requires_grad or not targets:
            return [None] * len(targets)
        return list(engine.grad(loss, targets, create_graph=create_graph, allow_unused=True))


def _tensor_array(value):
    return value.numpy() if isinstance(value, Tensor) else numpy.asarray(value)


# -- JAX ---------------------------------------------------------------------------------------
class JaxSide:
    """``their_module`` is a parameter tree (nested dicts, lists, tuples or an Equinox-style
    pytree); each floating array leaf is a parameter named by its path joined with dots
    ("params.Dense_0.kernel"), and compared in float64: the function runs under
    ``jax.enable_x64`` with those leaves cast to float64 (a tree made by a float32 init keeps
    its values, which are what scratchgan's module receives). JAX differentiates
    by calling the function again under tracing, so the draws of the first (eager) call are
    recorded and replayed in the later calls: value and gradients see the same numbers."""

    name = "JAX"
    replays = True

    def __init__(self):
        import jax  # optional extra, imported only when a comparison runs

        self.jax = jax

    def random_functions(self):
        return [(self.jax.random, JAX_RANDOM_FUNCTIONS, None)]

    def to_numpy(self, value):
        if isinstance(value, self.jax.core.Tracer):
            raise RuntimeError("compare_functions: a random draw of theirs is a JAX tracer (drawn inside "
                               "jax.jit or another transformation); capture_random needs the draws made "
                               "eagerly: call the function outside jit, or pass the draws yourself")
        return numpy.array(value, copy=True)

    def from_numpy(self, array):
        return self.jax.numpy.asarray(array)

    def _tree(self, their_module):
        """(flat leaves, tree definition, {dotted name: position} of the floating array leaves)."""
        if their_module is None:
            return [], None, {}
        paths, treedef = self.jax.tree_util.tree_flatten_with_path(their_module)
        leaves, positions = [leaf for _, leaf in paths], {}
        with self.jax.enable_x64(True):
            for position, (path, leaf) in enumerate(paths):
                if hasattr(leaf, "dtype") and numpy.issubdtype(numpy.dtype(leaf.dtype), numpy.floating):
                    positions[".".join(_key_name(key) for key in path)] = position
                    leaves[position] = self.jax.numpy.asarray(numpy.asarray(leaf, dtype=numpy.float64))
        return leaves, treedef, positions

    def parameters(self, their_module):
        leaves, _, positions = self._tree(their_module)
        return {name: leaves[i] for name, i in positions.items()}

    def load_into(self, their_module, module, mapping, caller):
        arrays = renamed({n: numpy.asarray(v) for n, v in self.parameters(their_module).items()}, mapping)
        load_weights(arrays, module, [n for n, p in module.named_parameters() if p.requires_grad],
                     self.name, caller)

    def run(self, function, their_module, inputs, context):
        with self.jax.enable_x64(True):
            return self._run(function, their_module, inputs, context)

    def _run(self, function, their_module, inputs, context):
        jax, jnp = self.jax, self.jax.numpy
        leaves, treedef, positions = self._tree(their_module)
        values = [jnp.asarray(v) if isinstance(v, numpy.ndarray) else v for v in inputs.values]
        targets = [v for v, d in zip(values, inputs.differentiable) if d]
        parameters = [leaves[i] for i in positions.values()]

        def scalar(target_inputs, target_parameters):
            tree_leaves = list(leaves)
            for position, parameter in zip(positions.values(), target_parameters):
                tree_leaves[position] = parameter
            tree = None if treedef is None else treedef.unflatten(tree_leaves)
            supplied = iter(target_inputs)
            arguments = [next(supplied) if d else v for v, d in zip(values, inputs.differentiable)]
            with context.recorder(self, replay=True):
                result = call(function, tree, arguments, inputs.keys, inputs.keyword)
            return _reduce(result, context.output, context.caller, "theirs")

        with context.recorder(self):  # the eager call: the value, and the draws it makes
            tree = None if treedef is None else treedef.unflatten(leaves)
            result = call(function, tree, values, inputs.keys, inputs.keyword)
        _reduce(result, context.output, context.caller, "theirs")
        gradient = jax.grad(scalar, argnums=(0, 1))
        flat = lambda pair: list(pair[0]) + list(pair[1])  # noqa: E731
        first = _split(flat(gradient(targets, parameters)), inputs.differentiable_keys, positions,
                       self.to_numpy)
        second = None
        if context.second_order:
            use_inputs = any(g.any() for g in first[0].values())  # as _sum_of_squares decides

            def penalty(target_inputs, target_parameters):
                input_gradients, parameter_gradients = gradient(target_inputs, target_parameters)
                squares = input_gradients if use_inputs else parameter_gradients
                return sum(jnp.sum(g * g) for g in squares)
            second = _split(flat(jax.grad(penalty, argnums=(0, 1))(targets, parameters)),
                            inputs.differentiable_keys, positions, self.to_numpy)
        return self.to_numpy(result), *first, second


def _key_name(key):
    for attribute in ("key", "idx", "name"):  # DictKey, SequenceKey, GetAttrKey / FlattenedIndexKey
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def side(framework, their_module, caller):
    """The side for ``framework`` ("torch", "jax" or None: JAX when their_module is a tree
    holding JAX arrays, PyTorch otherwise)."""
    if framework is None:
        framework = "jax" if _holds_jax_arrays(their_module) else "torch"
    if framework == "torch":
        return TorchSide()
    if framework == "jax":
        try:
            return JaxSide()
        except ImportError as error:
            raise ImportError(f"{caller}: framework='jax' needs JAX (pip install 'scratchgan[jax]')") from error
    raise ValueError(f"{caller}: framework must be 'torch', 'jax' or None, got {framework!r}")


def _holds_jax_arrays(tree):
    import sys

    jax = sys.modules.get("jax")
    if jax is None or tree is None:
        return False
    return any(isinstance(leaf, jax.Array) for leaf in jax.tree_util.tree_leaves(tree))
