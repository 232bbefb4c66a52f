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
