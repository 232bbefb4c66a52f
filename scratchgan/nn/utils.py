"""Module utilities: spectral normalisation (Miyato et al. 2018) with PyTorch's semantics."""

from __future__ import annotations

from scratchgan import backend, random
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor


def _normalize(vector, eps):
    """vector / max(||vector||, eps), on the array's device (no read-back to the host)."""
    xp = vector.xp if isinstance(vector, Tensor) else backend.get_array_module(vector)
    norm = xp.sqrt((vector * vector).sum())
    return vector / xp.maximum(norm, vector.dtype.type(eps))


class SpectralNorm:
    """W_sn = W / sigma(W), sigma estimated by power iteration on W reshaped to (W.shape[dim], -1).

    As ``torch.nn.utils.spectral_norm``: the module keeps ``{name}_orig`` as the
    parameter and ``{name}_u``, ``{name}_v`` as buffers; in training mode every forward
    first runs ``n_power_iterations`` steps (v <- normalize(W^T u), u <- normalize(W v))
    without gradient, then sigma = u^T W v with u, v held constant, so the gradient
    flows through W in both the numerator and sigma. In evaluation mode u, v stay fixed.
    """

    def __init__(self, name, n_power_iterations, dim, eps):
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def matrix(self, weight):
        """W with axis ``dim`` moved first, flattened to 2-d (a differentiable view)."""
        if self.dim != 0:
            axes = (self.dim,) + tuple(i for i in range(weight.ndim) if i != self.dim)
            weight = weight.transpose(axes)
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module):
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        matrix = self.matrix(weight)
        if module.training:
            with no_grad():
                w = matrix.data
                u_data, v_data = u.data, v.data
                for _ in range(self.n_power_iterations):
                    v_data = _normalize(w.T @ u_data, self.eps)
                    u_data = _normalize(w @ v_data, self.eps)
                u.data, v.data = u_data.copy(), v_data.copy()
        u_const, v_const = Tensor(u.data.copy()), Tensor(v.data.copy())
        sigma = (u_const * (matrix @ v_const)).sum()
        return weight / sigma

    def __call__(self, module, args):
        object.__setattr__(module, self.name, self.compute_weight(module))


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Normalise ``module.<name>`` by its spectral norm before every forward; returns the module.

    ``dim`` defaults to 0, or 1 for ConvTranspose2d (whose weight is (in, out, kh, kw)).
    """
    from scratchgan.nn.layers import ConvTranspose2d

    if n_power_iterations < 1:
        raise ValueError(f"spectral_norm: n_power_iterations must be >= 1, got {n_power_iterations}")
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter {name!r}")
    if dim is None:
        dim = 1 if isinstance(module, ConvTranspose2d) else 0
    hook = SpectralNorm(name, n_power_iterations, dim, eps)
    matrix = hook.matrix(weight).data
    generator = random.generator()
    u = _normalize(generator.standard_normal(matrix.shape[0]).astype(weight.dtype), eps)
    v = _normalize(generator.standard_normal(matrix.shape[1]).astype(weight.dtype), eps)
    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)  # the same object: optimizers keep working
    module.register_buffer(name + "_u", Tensor(weight.xp.asarray(u)))
    module.register_buffer(name + "_v", Tensor(weight.xp.asarray(v)))
    object.__setattr__(module, name, weight.detach())  # replaced by W / sigma before each forward
    module.register_forward_pre_hook(hook)
    return module


def functional_call(module, parameters: dict, *args, **kwargs):
    """``module(*args)`` with some parameters replaced by the given Tensors (which may be
    non-leaf results of other ops, e.g. unrolled updates), restoring the originals after.

    ``parameters`` maps names as in ``named_parameters()`` to Tensors of the same shapes.
    """
    owners = {}
    for module_name, owner in module.named_modules():
        prefix = f"{module_name}." if module_name else ""
        for name in owner._parameters:
            owners[prefix + name] = (owner, name)
    saved = []
    try:
        for full_name, tensor in parameters.items():
            if full_name not in owners:
                raise KeyError(f"functional_call: {type(module).__name__} has no parameter {full_name!r}")
            owner, name = owners[full_name]
            original = owner._parameters[name]
            if original is not None and tuple(tensor.shape) != original.shape:
                raise ValueError(
                    f"functional_call: {full_name} has shape {tuple(tensor.shape)}, expected {original.shape}"
                )
            saved.append((owner, name, original))
            owner._parameters[name] = tensor  # a plain Tensor in the table for this one call
        return module(*args, **kwargs)
    finally:
        for owner, name, original in reversed(saved):
            owner._parameters[name] = original
