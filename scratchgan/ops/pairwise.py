"""Pairwise L1 distances within each batch of rows, and the two sign contractions that make
their gradients: three primitives closed under differentiation.

For m of shape (B, N, C) (B groups of N rows of C values; minibatch discrimination's B
kernels of C dimensions over a batch of N samples, Salimans et al. 2016) write
s[b, i, j, c] = sign(m[b, i, c] - m[b, j, c]). Then

* ``pairwise_l1``:            d[b, i, j] = sum_c |m[b, i, c] - m[b, j, c]|        (B, N, N)
* ``pairwise_sign_contract``: y[b, i, c] = sum_j w[b, i, j] s[b, i, j, c]           (B, N, C)
* ``pairwise_sign_dot``:      y[b, i, j] = sum_c s[b, i, j, c] h[b, i, c]           (B, N, N)

The sign is piecewise constant, so the derivative of either contraction in m is 0 (as d|x|/dx
= sign(x) has derivative 0 away from 0), and the contractions are each other's transposes in
their second argument. The backward of ``pairwise_l1`` is a contraction, the contractions'
backwards are each other: every derivative order stays in these three, as convolution's do
in conv2d, conv_transpose2d and conv2d_weight.

Minibatch discrimination's features o[b, i] = sum_{j != i} exp(-d[b, i, j]) are one node,
``pairwise_l1_closeness``, and its gradient another, ``PairwiseL1ClosenessGrad`` (a grad
node: a fused forward, a backward written with the three primitives above), so a step runs
no (B, N, N) Tensor ops of exp, sum and their derivatives, and a gradient penalty through
the layer (its second derivatives) stays in the same few passes.

None of them builds the (B, N, N, C) tensor of differences: the references loop over the B x C
(N, N) planes, each small enough to stay in cache (for N = 512 and C = 8, one (B, N, N, C)
float32 tensor is 134 MB), and a kernel set may replace them by name (``backend.kernel``).
"""

from __future__ import annotations

from scratchgan import backend
from scratchgan.autograd import grad_mode
from scratchgan.autograd.function import Function
from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import shape as shape_ops


def _planes(m):
    """(B, N, C) -> (B, C, N) contiguous: row values of one group and channel side by side."""
    xp = backend.get_array_module(m)
    return xp.ascontiguousarray(m.transpose(0, 2, 1))


def _sign_plane(xp, values, out):
    """out[i, j] = sign(values[i] - values[j]) (0 where equal) as int8, for one (N,) vector:
    two comparisons (xp.sign of the float differences took three times as long)."""
    greater = xp.greater(values[:, None], values[None, :])
    less = xp.less(values[:, None], values[None, :])
    return xp.subtract(greater.view(xp.int8), less.view(xp.int8), out=out)


def _l1_group(xp, planes, out, plane):
    """out[i, j] += sum_c |planes[c, i] - planes[c, j]| for one group (C, N), channels in order."""
    for values in planes:
        xp.subtract(values[:, None], values[None, :], out=plane)
        out += xp.abs(plane, out=plane)


def pairwise_l1_array(m):
    """The NumPy reference of the ``pairwise_l1`` kernel: d[b, i, j] = sum_c |m[b,i,c] - m[b,j,c]|."""
    xp = backend.get_array_module(m)
    groups, n, _ = m.shape
    planes = _planes(m)
    out = xp.zeros((groups, n, n), dtype=m.dtype)
    plane = xp.empty((n, n), dtype=m.dtype)
    for b in range(groups):
        _l1_group(xp, planes[b], out[b], plane)
    return out


def _sign_contract_group(xp, planes, w, out, signs, plane):
    """out[c, i] = sum_j w[i, j] sign(planes[c, i] - planes[c, j]) for one group (C, N) and (N, N) w."""
    for c in range(planes.shape[0]):
        xp.multiply(w, _sign_plane(xp, planes[c], signs), out=plane)
        out[c] = plane.sum(axis=1)


def pairwise_sign_contract_array(m, w):
    """The NumPy reference of ``pairwise_sign_contract``: y[b, i, c] = sum_j w[b,i,j] s[b,i,j,c]."""
    xp = backend.get_array_module(m, w)
    groups, n, channels = m.shape
    planes = _planes(m)
    out = xp.empty((groups, channels, n), dtype=m.dtype)
    signs, plane = xp.empty((n, n), dtype=xp.int8), xp.empty((n, n), dtype=m.dtype)
    for b in range(groups):
        _sign_contract_group(xp, planes[b], w[b], out[b], signs, plane)
    return out.transpose(0, 2, 1)


def pairwise_sign_dot_array(m, h):
    """The NumPy reference of ``pairwise_sign_dot``: y[b, i, j] = sum_c s[b,i,j,c] h[b,i,c]."""
    xp = backend.get_array_module(m, h)
    groups, n, channels = m.shape
    planes, weights = _planes(m), _planes(h)
    out = xp.zeros((groups, n, n), dtype=m.dtype)
    signs, plane = xp.empty((n, n), dtype=xp.int8), xp.empty((n, n), dtype=m.dtype)
    for b in range(groups):
        for c in range(channels):
            xp.multiply(_sign_plane(xp, planes[b, c], signs), weights[b, c][:, None], out=plane)
            out[b] += plane
    return out


def pairwise_l1_closeness_array(m):
    """The NumPy reference of the ``pairwise_l1_closeness`` kernel: (o, e) with
    e[b, i, j] = exp(-d[b, i, j]) (B, N, N) and o[b, i] = sum_{j != i} e[b, i, j] (B, N),
    computed as sum_j e[b, i, j] - 1 (the j = i term is exp(0) = 1), one (N, N) plane at a time."""
    xp = backend.get_array_module(m)
    groups, n, _ = m.shape
    planes = _planes(m)
    kernel = xp.zeros((groups, n, n), dtype=m.dtype)
    plane = xp.empty((n, n), dtype=m.dtype)
    for b in range(groups):  # each plane goes distances -> exp(-distances) while in cache
        _l1_group(xp, planes[b], kernel[b], plane)
        xp.exp(xp.negative(kernel[b], out=kernel[b]), out=kernel[b])
    return kernel.sum(axis=2) - 1, kernel


def pairwise_l1_closeness_grad_array(m, g, kernel):
    """The NumPy reference of ``pairwise_l1_closeness_grad``: dm[b, i, c] =
    -sum_j (g[b, i] + g[b, j]) e[b, i, j] s[b, i, j, c] from e = exp(-d), (B, N, C)."""
    xp = backend.get_array_module(m, g, kernel)
    groups, n, channels = m.shape
    planes = _planes(m)
    out = xp.empty((groups, channels, n), dtype=m.dtype)
    weights, plane = xp.empty((n, n), dtype=m.dtype), xp.empty((n, n), dtype=m.dtype)
    signs = xp.empty((n, n), dtype=xp.int8)
    for b in range(groups):
        xp.add(g[b][:, None], g[b][None, :], out=weights)
        xp.multiply(weights, kernel[b], out=weights)
        xp.negative(weights, out=weights)
        _sign_contract_group(xp, planes[b], weights, out[b], signs, plane)
    return out.transpose(0, 2, 1)


def pairwise_l1_closeness_grad_backward_array(m, g, kernel, grad):
    """The NumPy reference of ``pairwise_l1_closeness_grad_backward``: the VJP of
    ``pairwise_l1_closeness_grad`` for an incoming G (B, N, C), as (dm, dg) with
    Q = P + P^T for P = pairwise_sign_dot(m, G) (Q[b,i,j] = sum_c s[b,i,j,c] (G[b,i,c] - G[b,j,c])),
    dg[b,i] = -sum_j e[b,i,j] Q[b,i,j] and dm = pairwise_sign_contract(m, (g[b,i] + g[b,j]) e Q)."""
    xp = backend.get_array_module(m, g, kernel, grad)
    sign_dot = pairwise_sign_dot_array(m, grad)
    weighted = kernel * (sign_dot + sign_dot.transpose(0, 2, 1))
    grad_g = -weighted.sum(axis=2)
    weighted *= g[:, :, None] + g[:, None, :]
    return pairwise_sign_contract_array(m, xp.ascontiguousarray(weighted)), grad_g


class PairwiseL1(Function):
    """d[b,i,j] = sum_c |m[b,i,c] - m[b,j,c]|;  dm[b,i,c] = sum_j (G[b,i,j] + G[b,j,i]) s[b,i,j,c],
    i.e. dm = pairwise_sign_contract(m, G + G^T) (s = sign(m[b,i,c] - m[b,j,c]), 0 where equal)."""

    def forward(self, m):
        return backend.kernel("pairwise_l1", pairwise_l1_array)(m)

    def backward(self, g):
        (m,) = self.inputs
        return (PairwiseSignContract.apply(m, g + shape_ops.swapaxes(g, 1, 2)),)


class PairwiseSignContract(Function):
    """y[b,i,c] = sum_j w[b,i,j] s[b,i,j,c];  dw[b,i,j] = sum_c G[b,i,c] s[b,i,j,c] =
    pairwise_sign_dot(m, G), dm = 0 (s is piecewise constant in m)."""

    def forward(self, m, w):
        return backend.kernel("pairwise_sign_contract", pairwise_sign_contract_array)(m, w)

    def backward(self, g):
        m, _ = self.inputs
        return None, (PairwiseSignDot.apply(m, g) if self.needs_input_grad[1] else None)


class PairwiseSignDot(Function):
    """y[b,i,j] = sum_c s[b,i,j,c] h[b,i,c];  dh[b,i,c] = sum_j G[b,i,j] s[b,i,j,c] =
    pairwise_sign_contract(m, G), dm = 0 (s is piecewise constant in m)."""

    def forward(self, m, h):
        return backend.kernel("pairwise_sign_dot", pairwise_sign_dot_array)(m, h)

    def backward(self, g):
        m, _ = self.inputs
        return None, (PairwiseSignContract.apply(m, g) if self.needs_input_grad[1] else None)


class PairwiseL1Closeness(Function):
    """o[b,i] = sum_{j != i} e[b,i,j], e = exp(-pairwise_l1(m));  dm = pairwise_l1_closeness_grad(m, G):
    dm[b,i,c] = -sum_j (G[b,i] + G[b,j]) e[b,i,j] s[b,i,j,c] (e is symmetric: both ends of a pair move).

    One node instead of pairwise_l1, exp, sum and their backwards over (B, N, N) tensors; the
    forward keeps e for the backward when a gradient can be asked for (freed with the graph)."""

    def forward(self, m):
        closeness, kernel = backend.kernel("pairwise_l1_closeness", pairwise_l1_closeness_array)(m)
        if True in self.needs_input_grad:
            self.kernel = kernel
        return closeness

    def backward(self, g):
        (m,) = self.inputs
        return (PairwiseL1ClosenessGrad.apply(m, g, kernel=self.kernel),)


class PairwiseL1ClosenessGrad(Function):
    """y[b,i,c] = -sum_j (g[b,i] + g[b,j]) e[b,i,j] s[b,i,j,c], e = exp(-pairwise_l1(m)). With
    P = pairwise_sign_dot(m, G) and Q = P + P^T (Q[b,i,j] = sum_c s[b,i,j,c] (G[b,i,c] - G[b,j,c])):
    dg[b,i] = -sum_j e[b,i,j] Q[b,i,j],  dm = pairwise_sign_contract(m, (g[b,i] + g[b,j]) e Q)
    (s is flat in m; e's own derivative in m is the -e s term of its exponent).

    ``kernel`` is the forward's e. Without a graph of the backward (the usual second-order
    pass of a gradient penalty) the VJP is one fused kernel, ``pairwise_l1_closeness_grad_backward``;
    under create_graph it is written in Tensor ops with e rebuilt from m, so third derivatives
    are exact too."""

    kernel = None

    def forward(self, m, g):
        kernel = self.kernel if self.kernel is not None else pairwise_l1_closeness_array(m)[1]
        return backend.kernel("pairwise_l1_closeness_grad", pairwise_l1_closeness_grad_array)(m, g, kernel)

    def backward(self, grad):
        m, g = self.inputs
        if not grad_mode.is_grad_enabled():  # no graph of this backward: one fused pass, no (B, N, N) Tensors
            kernel = self.kernel if self.kernel is not None else pairwise_l1_closeness_array(m.data)[1]
            fused = backend.kernel("pairwise_l1_closeness_grad_backward", pairwise_l1_closeness_grad_backward_array)
            grad_m, grad_g = fused(m.data, g.data, kernel, grad.data)
            return (Tensor(grad_m) if self.needs_input_grad[0] else None,
                    Tensor(grad_g) if self.needs_input_grad[1] else None)
        kernel = (-PairwiseL1.apply(m)).exp()  # create_graph: e as a function of m, the same VJP in Tensor ops
        sign_dot = PairwiseSignDot.apply(m, grad)
        weighted = kernel * (sign_dot + shape_ops.swapaxes(sign_dot, 1, 2))  # e Q, (B, N, N)
        grad_m = grad_g = None
        if self.needs_input_grad[0]:
            pair_sums = shape_ops.unsqueeze(g, 2) + shape_ops.unsqueeze(g, 1)  # g[b,i] + g[b,j]
            grad_m = PairwiseSignContract.apply(m, pair_sums * weighted)
        if self.needs_input_grad[1]:
            grad_g = -weighted.sum(axis=2)
        return grad_m, grad_g


def _check_rows(owner: str, m):
    if m.ndim != 3:
        raise ValueError(f"{owner}: expected m of shape (B, N, C) (groups, rows, channels), got shape {m.shape}")


def _check_same(owner: str, m, other, name: str, shape):
    if other.shape != shape:
        raise ValueError(f"{owner}: expected {name} of shape {shape} for m of shape {m.shape}, got shape "
                         f"{other.shape}")
    if other.dtype != m.dtype:
        raise ValueError(f"{owner}: {name} has dtype {other.dtype} and m {m.dtype}; expected one dtype")


def pairwise_l1(m):
    """d[b, i, j] = sum_c |m[b, i, c] - m[b, j, c]| for m (B, N, C): (B, N, N)."""
    _check_rows("pairwise_l1", m)
    return PairwiseL1.apply(m)


def pairwise_sign_contract(m, w):
    """y[b, i, c] = sum_j w[b, i, j] sign(m[b, i, c] - m[b, j, c]) for m (B, N, C), w (B, N, N)."""
    _check_rows("pairwise_sign_contract", m)
    _check_same("pairwise_sign_contract", m, w, "w", (m.shape[0], m.shape[1], m.shape[1]))
    return PairwiseSignContract.apply(m, w)


def pairwise_sign_dot(m, h):
    """y[b, i, j] = sum_c sign(m[b, i, c] - m[b, j, c]) h[b, i, c] for m, h (B, N, C)."""
    _check_rows("pairwise_sign_dot", m)
    _check_same("pairwise_sign_dot", m, h, "h", m.shape)
    return PairwiseSignDot.apply(m, h)


def pairwise_l1_closeness(m):
    """o[b, i] = sum_{j != i} exp(-sum_c |m[b, i, c] - m[b, j, c]|) for m (B, N, C): (B, N), the
    features of minibatch discrimination (Salimans et al. 2016)."""
    _check_rows("pairwise_l1_closeness", m)
    return PairwiseL1Closeness.apply(m)
