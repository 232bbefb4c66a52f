"""Matrix multiplication (batched, broadcasting) and the affine map of a Linear layer."""

from __future__ import annotations

from scratchgan import backend
from scratchgan.autograd.function import Function
from scratchgan.ops import shape as shape_ops
from scratchgan.ops._common import as_tensor
from scratchgan.ops.reduce import unbroadcast


def matmul_array(a, b):
    """The NumPy reference of the matmul kernel (BLAS through xp.matmul).

    A product over one term (a's last axis of length 1: the outer product g w in the input
    gradient of a Linear layer with one output, a GAN discriminator's last layer) is the
    broadcast a * b, the same numbers: OpenBLAS's GEMM took 0.88 ms for (64, 1) @ (1, 6272),
    the broadcast 0.05 ms."""
    xp = backend.get_array_module(a, b)
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == 1 == b.shape[-2]:
        return xp.multiply(a, b)
    return xp.matmul(a, b)


class MatMul(Function):
    """C = A B over the last two axes;  dA = G B^T, dB = A^T G (batch axes unbroadcast)."""

    def forward(self, a, b):
        return backend.kernel("matmul", matmul_array)(a, b)

    def backward(self, g):
        a, b = self.inputs
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = unbroadcast(MatMul.apply(g, shape_ops.swapaxes(b, -1, -2)), a.shape)
        if self.needs_input_grad[1]:
            grad_b = unbroadcast(MatMul.apply(shape_ops.swapaxes(a, -1, -2), g), b.shape)
        return grad_a, grad_b


def check_same_dtype(op: str, **operands):
    """Refuse operands of different dtypes, as PyTorch's matmul, linear and conv do ("mat1 and
    mat2 must have the same dtype"): NumPy would promote, and a float32 model given float64
    data would silently compute, and return, float64. Elementwise ops keep promoting."""
    (first_name, first), *others = operands.items()
    for name, operand in others:
        if operand.dtype != first.dtype:
            raise TypeError(
                f"{op}: {first_name} has dtype {first.dtype} and {name} has dtype {operand.dtype}; "
                f"expected the same dtype (cast one with .to(dtype=...))"
            )


def matmul(a, b):
    """NumPy's matmul: 1-d operands are promoted to matrices and the added axis removed."""
    from scratchgan.autograd.tensor import Tensor

    a = a if isinstance(a, Tensor) else as_tensor(a, b)
    b = b if isinstance(b, Tensor) else as_tensor(b, a)
    check_same_dtype("matmul", a=a, b=b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got {a.shape} and {b.shape}")
    a2 = shape_ops.unsqueeze(a, 0) if a.ndim == 1 else a
    b2 = shape_ops.unsqueeze(b, 1) if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not align ({a2.shape[-1]} != {b2.shape[-2]})"
        )
    out = MatMul.apply(a2, b2)
    if a.ndim == 1:
        out = shape_ops.squeeze(out, -2)
    if b.ndim == 1:
        out = shape_ops.squeeze(out, -1)
    return out


class Linear(Function):
    """y = x W^T (+ b) over the last axis;  dx = g W,  dW = g^T x,  db = sum of g over the batch axes.

    One node instead of transpose, matmul and a broadcast add: MLP GANs are made of these.
    The inputs are (x, W) or (x, W, b); x may have any number of leading axes.
    """

    def forward(self, x, w, b=None):
        out = backend.kernel("matmul", matmul_array)(x, w.T)
        return out if b is None else out + b

    def backward(self, g):
        x, w = self.inputs[:2]
        grad_x = MatMul.apply(g, w) if self.needs_input_grad[0] else None
        grad_w = grad_b = None
        if self.needs_input_grad[1]:
            rows_g = g.reshape(-1, g.shape[-1])
            rows_x = x.reshape(-1, x.shape[-1])
            grad_w = MatMul.apply(shape_ops.transpose(rows_g), rows_x)
        if len(self._inputs) == 3 and self.needs_input_grad[2]:
            grad_b = g.sum(axis=tuple(range(g.ndim - 1)))
        return (grad_x, grad_w) if len(self._inputs) == 2 else (grad_x, grad_w, grad_b)


def linear(x, weight, bias=None):
    """y = x W^T + b, with W of shape (out_features, in_features) as in PyTorch."""
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input has {x.shape[-1] if x.ndim else 0} features (shape {x.shape}), "
            f"expected {weight.shape[1]}"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias has shape {bias.shape}, expected ({weight.shape[0]},)")
    check_same_dtype("linear", input=x, weight=weight, **({} if bias is None else {"bias": bias}))
    if x.ndim == 1:
        return Linear.apply(x.reshape(1, -1), weight, *(() if bias is None else (bias,))).reshape(-1)
    return Linear.apply(x, weight, *(() if bias is None else (bias,)))


def bmm(input, mat2):  # noqa: A002  (PyTorch's argument names)
    """torch.bmm: (B, n, m) @ (B, m, p) -> (B, n, p), strictly 3-d and with one batch size
    (no broadcasting; ``matmul`` broadcasts). The batched product is ``MatMul`` itself."""
    from scratchgan.autograd.tensor import Tensor

    input = input if isinstance(input, Tensor) else as_tensor(input, mat2)
    mat2 = mat2 if isinstance(mat2, Tensor) else as_tensor(mat2, input)
    if input.ndim != 3 or mat2.ndim != 3:
        raise ValueError(f"bmm: expected 3-d tensors (B, n, m) and (B, m, p), got shapes "
                         f"{input.shape} and {mat2.shape}")
    batch, _, inner = input.shape
    if mat2.shape[:2] != (batch, inner):
        raise ValueError(f"bmm: input of shape {input.shape} needs mat2 of shape ({batch}, {inner}, p), "
                         f"got {mat2.shape}")
    check_same_dtype("bmm", input=input, mat2=mat2)
    return MatMul.apply(input, mat2)


# -- einsum ---------------------------------------------------------------------------------
# One letter per label, in ASCII order (upper case first): the implicit output is sorted in
# this order, as in NumPy and PyTorch.
LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class Einsum(Function):
    """y = einsum(s_1, ..., s_n -> s_out)(x_1, ..., x_n): the sum over every label not in s_out
    of the product of the operands;  d/dx_k = einsum(s_out, s_j (j != k) -> s_k)(g, x_j).

    The functional form hands this node explicit labels only: no ellipsis, one size per
    label (broadcast labels of size 1 squeezed away). A label in s_k and in no other term
    was summed inside x_k, so its gradient is broadcast along it; a label repeated in s_k
    (a diagonal) takes a fresh label per repeat, tied to the first by a Kronecker delta
    operand: the gradient is embedded on the diagonal. The VJP is an einsum, so every
    order of derivative is one too.
    """

    def forward(self, *arrays):
        equation = ",".join(self.operand_subscripts) + "->" + self.output_subscripts
        return self.xp_of(*arrays).einsum(equation, *arrays, optimize=True)

    def backward(self, g):
        # a single operand's VJP reads no values (einsum is linear in it): shapes only
        operands = self.inputs if len(self._inputs) > 1 else self._inputs
        return tuple(
            _einsum_operand_grad(g, operands, self.operand_subscripts, self.output_subscripts, k)
            if self.needs_input_grad[k] else None
            for k in range(len(operands))
        )


def _einsum_operand_grad(g, operands, subscripts, output, k):
    """d<g, einsum(...)>/d operand k: an einsum of g, the other operands and one Kronecker delta
    per repeated label of operand k, into operand k's labels (then broadcast along its own)."""
    target, shape = subscripts[k], operands[k].shape
    unused = iter(label for label in LABELS if label not in set("".join(subscripts) + output))
    grad_labels, tied = [], {}  # tied: label -> [the label, the fresh labels of its repeats]
    for label in target:
        if label in tied:
            fresh = next(unused, None)
            if fresh is None:
                raise RuntimeError(f"einsum backward: no unused label left for a repeat of {label!r}")
            tied[label].append(fresh)
            grad_labels.append(fresh)
        else:
            tied[label] = [label]
            grad_labels.append(label)
    deltas = ["".join(group) for group in tied.values() if len(group) > 1]
    others = [j for j in range(len(operands)) if j != k]
    reached = set(output + "".join(subscripts[j] for j in others) + "".join(deltas))
    computed = "".join(label for label in grad_labels if label in reached)
    delta_tensors = [_kronecker_delta(g, len(labels), shape[target.index(labels[0])]) for labels in deltas]
    grad = Einsum.apply(
        g, *(operands[j] for j in others), *delta_tensors,
        operand_subscripts=(output, *(subscripts[j] for j in others), *deltas),
        output_subscripts=computed,
    )
    if len(computed) < len(grad_labels):  # summed inside operand k alone: broadcast back
        kept = tuple(n if label in reached else 1 for label, n in zip(grad_labels, shape))
        grad = shape_ops.broadcast_to(shape_ops.reshape(grad, kept), shape)
    return grad


def _kronecker_delta(like, order, size):
    """The constant delta_{i_1 ... i_order}: 1 where all indices are equal, of like's dtype and device."""
    from scratchgan.autograd.tensor import Tensor

    xp = like.xp
    delta = xp.zeros((size,) * order, dtype=like.dtype)
    diagonal = xp.arange(size)
    delta[(diagonal,) * order] = 1
    return Tensor(delta)


def einsum(equation, *operands):
    """torch.einsum: Einstein summation over labelled axes, e.g. ``einsum('bqd,bkd->bqk', q, k)``.

    Explicit (``'ij,jk->ik'``) and implicit (``'ij,jk'``: the labels seen once, sorted) outputs;
    a label repeated in one operand takes its diagonal (``'ii->i'``), one missing from the
    output is summed; ``...`` stands for the same broadcast axes in every operand (summed
    when an explicit output lacks it). A label of size 1 broadcasts against a larger one, as
    in PyTorch. Spaces are ignored; the operands may also be given as one list.
    """
    from scratchgan.autograd.tensor import Tensor

    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a string, got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: expected at least one operand")
    for position, operand in enumerate(operands):
        if not isinstance(operand, Tensor):
            raise TypeError(f"einsum: operand {position} must be a Tensor, got {type(operand).__name__}")
    check_same_dtype("einsum", **{f"operand {i}": operand for i, operand in enumerate(operands)})
    terms, output = _parse_equation(equation.replace(" ", ""), operands)
    operands, terms = _squeeze_broadcast_labels(operands, terms)
    return Einsum.apply(*operands, operand_subscripts=tuple(terms), output_subscripts=output)


def _parse_equation(equation, operands):
    """The operands' subscripts and the output's, with the ellipsis spelled out in unused labels."""
    inputs, arrow, output = equation.partition("->")
    if "->" in output:
        raise ValueError(f"einsum: equation {equation!r} has more than one '->'")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: equation {equation!r} has {len(terms)} operand subscript(s) "
                         f"but {len(operands)} operand(s) were given")
    parsed = [_parse_term(term, f"operand {i}", equation) for i, term in enumerate(terms)]
    ellipsis_shapes = []
    for position, ((labels, has_ellipsis), operand) in enumerate(zip(parsed, operands)):
        named = len(labels) - has_ellipsis  # the labels that name one axis each
        if named > operand.ndim or (not has_ellipsis and named != operand.ndim):
            raise ValueError(f"einsum: subscripts {terms[position]!r} of operand {position} do not fit its "
                             f"{operand.ndim} dimensions (shape {operand.shape})")
        if has_ellipsis:
            start = labels.index(".")
            ellipsis_shapes.append(operand.shape[start:start + operand.ndim - len(labels) + 1])
    ellipsis = _ellipsis_labels(equation, ellipsis_shapes)
    expanded = [_spell_ellipsis(labels, ellipsis, operand.ndim) for (labels, _), operand in zip(parsed, operands)]
    every = "".join(expanded)
    if arrow:
        out_labels, out_ellipsis = _parse_term(output, "the output", equation)
        output = out_labels.replace(".", ellipsis) if out_ellipsis else out_labels
        for label in output:
            if output.count(label) > 1:
                raise ValueError(f"einsum: output label {label!r} appears more than once in {equation!r}")
            if label not in every:
                raise ValueError(f"einsum: output label {label!r} of {equation!r} is in no operand")
    else:
        once = sorted({label for label in every if every.count(label) == 1 and label not in ellipsis}, key=LABELS.index)
        output = ellipsis + "".join(once)
    return expanded, output


def _parse_term(term, what, equation):
    """(labels with the ellipsis as one '.', whether it had one), after checking the characters."""
    if term.count("...") > 1:
        raise ValueError(f"einsum: {what} of {equation!r} has more than one ellipsis")
    labels = term.replace("...", ".")
    if labels.count(".") > ("..." in term):
        raise ValueError(f"einsum: the subscripts {term!r} of {what} of {equation!r} have a '.' that is "
                         f"not part of one ellipsis '...'")
    for char in labels:
        if char not in LABELS + ".":
            raise ValueError(f"einsum: invalid character {char!r} in the subscripts {term!r} of {what} of "
                             f"{equation!r}; expected letters a-z, A-Z and one '...'")
    return labels, "..." in term


def _ellipsis_labels(equation, shapes):
    """Unused labels for the broadcast of the operands' ellipsis axes (as many as the longest)."""
    import numpy

    try:
        numpy.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"einsum: the axes that '...' covers do not broadcast in {equation!r}: "
                         f"shapes {', '.join(str(s) for s in shapes)}") from None
    count = max((len(s) for s in shapes), default=0)
    unused = [label for label in LABELS if label not in equation]
    if count > len(unused):
        raise ValueError(f"einsum: {equation!r} needs {count} labels for '...' but only {len(unused)} are unused")
    return "".join(unused[:count])


def _spell_ellipsis(labels, ellipsis, ndim):
    """One operand's labels with its '.' replaced by the last (ndim - named) ellipsis labels."""
    if "." not in labels:
        return labels
    covered = ndim - (len(labels) - 1)
    return labels.replace(".", ellipsis[len(ellipsis) - covered:] if covered else "")


def _squeeze_broadcast_labels(operands, terms):
    """Check one size per label (repeats in an operand equal; across operands equal or 1) and
    drop the axes of size 1 that broadcast against a larger size, so Einsum sees one size each."""
    sizes = {}
    for position, (term, operand) in enumerate(zip(terms, operands)):
        mine = {}
        for label, n in zip(term, operand.shape):
            if mine.setdefault(label, n) != n:
                raise ValueError(f"einsum: label {label!r} is repeated in operand {position} (shape "
                                 f"{operand.shape}) with different sizes {mine[label]} and {n}")
        for label, n in mine.items():
            seen = sizes.setdefault(label, n)
            if n != seen and 1 not in (n, seen):
                raise ValueError(f"einsum: label {label!r} has size {n} in operand {position} (shape "
                                 f"{operand.shape}) and size {seen} in an earlier operand")
            sizes[label] = seen if n == 1 else n  # 1 broadcasts against any size, 0 included
    squeezed_operands, squeezed_terms = [], []
    for term, operand in zip(terms, operands):
        keep = [i for i, (label, n) in enumerate(zip(term, operand.shape)) if n == sizes[label]]
        if len(keep) < len(term):
            operand = shape_ops.reshape(operand, tuple(operand.shape[i] for i in keep))
            term = "".join(term[i] for i in keep)
        squeezed_operands.append(operand)
        squeezed_terms.append(term)
    return squeezed_operands, squeezed_terms
