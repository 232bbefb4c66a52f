"""Lipschitz and smoothness penalties on the discriminator, and WGAN weight clipping.

Each penalty returns its value *without* the weight lambda; add ``lam * penalty`` to
the discriminator loss. Gradient norms are taken over the whole sample (every axis but
the batch axis): a widely copied WGAN-GP implementation took it over axis 1 only, which
is a different penalty. Each penalty differentiates through D twice: the inner
gradient is computed with ``create_graph=True``, so the outer backward reaches D's
weights.

The registry gives every penalty on D one signature: ``penalties.get(name, **params)``
returns a ``Penalty`` called as ``penalty(D, real, fake=None, *, alpha=None, delta=None)``
(a scalar Tensor); ``penalties.names()`` lists the entries. The games call penalties only
through it.
"""

from __future__ import annotations

import math

import numpy

from scratchgan.autograd import engine, factories
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import elementwise as ew

REDUCTIONS = ("mean", "max")
DRAGAN_PERTURBATIONS = ("paper", "authors_code")


def _non_batch_axes(op, ndim, norm_axes):
    """The axes a gradient norm runs over: all but the batch axis, or ``norm_axes`` checked."""
    if norm_axes is None:
        return tuple(range(1, ndim))
    axes = (norm_axes,) if isinstance(norm_axes, int) else tuple(norm_axes)
    normalized = tuple(sorted({axis % ndim if -ndim <= axis < ndim else axis for axis in axes}))
    if not axes or any(not 1 <= axis < ndim for axis in normalized):
        raise ValueError(f"{op}: norm_axes must be non-empty non-batch axes of a {ndim}-d gradient "
                         f"(1 to {ndim - 1}), got {norm_axes!r}")
    return normalized


def per_sample_norm(gradient, axes=None):
    """||g_n||_2 = sqrt(sum over ``axes`` of g_n^2) (default: all non-batch axes, shape (N,)),
    with derivative 0 (not NaN) where the sum is 0."""
    axes = _non_batch_axes("per_sample_norm", gradient.ndim, axes)
    squared = (gradient * gradient).sum(axis=axes)
    positive = squared.data > 0
    safe = ew.where(positive, squared, 1.0)  # sqrt'(0) is infinite; zero rows contribute 0 instead
    return ew.where(positive, safe.sqrt(), 0.0)


def input_gradient(discriminator, x):
    """d sum(D(x)) / dx, as part of the graph (create_graph=True), and D(x)."""
    x = x.detach().requires_grad_()
    output = discriminator(x)
    (gradient,) = engine.grad(output.sum(), x, create_graph=True)
    return gradient, output


def _uniform_per_sample(real):
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    return factories.rand(*shape, dtype=real.dtype, device=real.device)  # drawn where real lives


def _as_tensor_like(value, real):
    return value if isinstance(value, Tensor) else Tensor(real.xp.asarray(value, dtype=real.dtype))


def _interpolates(op, real, fake, alpha):
    """x_hat = a real + (1 - a) fake, a ~ U[0, 1) per sample unless given."""
    if fake is None or real.shape != fake.shape:
        raise ValueError(f"{op}: real has shape {real.shape} but fake has "
                         f"{None if fake is None else fake.shape}")
    alpha = _uniform_per_sample(real) if alpha is None else _as_tensor_like(alpha, real)
    return alpha * real.detach() + (1 - alpha) * fake.detach()


def _check_choice(op, name, value, choices):
    if value not in choices:
        raise ValueError(f"{op}: {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def gradient_penalty(discriminator, real, fake, alpha=None, center=1.0, one_sided=False, norm_axes=None,
                     reduce="mean"):
    """WGAN-GP (Gulrajani et al. 2017): E (||grad D(x_hat)|| - center)^2, x_hat = a real + (1-a) fake.

    ``alpha`` (shape (N, 1, ..., 1) or broadcastable) is drawn U[0, 1] per sample when not
    given. ``one_sided=True`` penalises only norms above ``center``: E max(0, ||g|| - center)^2.
    ``norm_axes``: the axes of the norm; None (the default) is every non-batch axis, one
    norm per sample. ``norm_axes=1`` on an (N, C, H, W) input reproduces the widely copied
    ``gradients.norm(2, dim=1)``: one norm per pixel, averaged over N, H and W, a different
    penalty. ``reduce="max"`` takes max_n (||g_n|| - center)^2 instead of the mean (the
    max-gradient variant: the registry's ``max_gradient_penalty``); with ``norm_axes`` leaving
    axes, the mean or max runs over those too.
    """
    _check_choice("gradient_penalty", "reduce", reduce, REDUCTIONS)
    interpolated = _interpolates("gradient_penalty", real, fake, alpha)
    axes = _non_batch_axes("gradient_penalty", real.ndim, norm_axes)
    gradient, _ = input_gradient(discriminator, interpolated)
    excess = per_sample_norm(gradient, axes) - center
    if one_sided:
        excess = ew.relu(excess)
    squared = excess * excess
    return squared.mean() if reduce == "mean" else squared.max()


def _dragan_point(real, c, delta, alpha, perturbation):
    """The point DRAGAN differentiates at, with delta and alpha drawn where not given (delta first)."""
    if perturbation == "paper":
        if alpha is not None:
            raise TypeError("dragan_penalty: alpha is only used with perturbation='authors_code'")
        if delta is None:
            delta = factories.randn(*real.shape, dtype=real.dtype, device=real.device) * c ** 0.5
    elif delta is None:  # 0.5 std(x) U[0, 1) per element, std over the whole batch (ddof 0)
        delta = 0.5 * real.detach().std() * factories.rand(*real.shape, dtype=real.dtype, device=real.device)
    delta = _as_tensor_like(delta, real)
    if delta.shape != real.shape:
        raise ValueError(f"dragan_penalty: delta has shape {delta.shape}, expected {real.shape}")
    if perturbation == "paper":
        return real.detach() + delta
    alpha = _uniform_per_sample(real) if alpha is None else _as_tensor_like(alpha, real)
    return real.detach() + alpha * delta


def dragan_penalty(discriminator, real, k=1.0, c=10.0, delta=None, perturbation="paper", alpha=None):
    """DRAGAN (Kodali et al. 2017, "On Convergence and Stability of GANs", arXiv:1705.07215;
    seed 000 'DRAGAN'): E (||grad D(x_p)|| - k)^2, the norm over every non-batch axis.

    Regularises D's gradient in a region around the real data; ``x_p`` depends on
    ``perturbation``:

    - ``"paper"`` (the default): x_p = x + delta, delta ~ N(0, c I), drawn per element
      (``c`` is the variance: delta = sqrt(c) * randn). The paper's lambda=10, k=1, c=10.
    - ``"authors_code"`` (kodalinaveen3/DRAGAN, as in its ``get_perturbed_batch`` and
      penalty): x_p = x + alpha * delta, delta = 0.5 * std(x) * u, u ~ U[0, 1) per element
      (one-sided: every element moves up), std(x) the population standard deviation of the
      whole batch (every element, ddof 0), alpha ~ U[0, 1) per sample, shape (N, 1, ..., 1);
      the code's ``X + alpha * (X_p - X)`` with ``X_p = X + delta``. ``c`` is not used.

    ``delta`` (shape of ``real``) replaces the drawn perturbation: x + delta ("paper") or
    x + alpha * delta ("authors_code"); ``alpha`` is accepted only with "authors_code".
    When both are drawn, delta is drawn first. ``k`` is the target norm in both.
    """
    _check_choice("dragan_penalty", "perturbation", perturbation, DRAGAN_PERTURBATIONS)
    gradient, _ = input_gradient(discriminator, _dragan_point(real, c, delta, alpha, perturbation))
    excess = per_sample_norm(gradient) - k
    return (excess * excess).mean()


def r1_penalty(discriminator, real):
    """R1 (Mescheder et al. 2018): E ||grad D(x)||^2 on real data."""
    gradient, _ = input_gradient(discriminator, real)
    axes = tuple(range(1, gradient.ndim))
    return (gradient * gradient).sum(axis=axes).mean()


def r2_penalty(discriminator, fake):
    """R2 (Mescheder et al. 2018): E ||grad D(G(z))||^2 on generated data."""
    return r1_penalty(discriminator, fake)


def wgan_div_penalty(discriminator, real, fake, alpha=None, k=2.0, p=6.0):
    """WGAN-div (Wu et al. 2018, "Wasserstein Divergence for GANs", arXiv:1712.01026):
    k E ||grad D(x_hat)||^p, x_hat = a real + (1 - a) fake, a ~ U[0, 1) per sample unless given.

    The norm is over every non-batch axis, computed as (sum g^2)^(p/2) (no square root, so
    smooth at g = 0 for p >= 2). ``k`` is the paper's weight (2, with p = 6, its best
    setting), so the trainer puts lambda = 1 in front. Algorithm 1 of the paper samples
    x_hat on the segments between real and fake samples, as here.
    """
    if not p > 0:
        raise ValueError(f"wgan_div_penalty: p must be positive, got {p}")
    interpolated = _interpolates("wgan_div_penalty", real, fake, alpha)
    gradient, _ = input_gradient(discriminator, interpolated)
    squared = (gradient * gradient).sum(axis=tuple(range(1, gradient.ndim)))
    return k * (squared ** (p / 2)).mean()


class LeCamAnchors:
    """LeCam's anchors (Tseng et al. 2021, arXiv:2104.03310): exponential moving averages
    alpha_R <- decay alpha_R + (1 - decay) E D(x), alpha_F <- decay alpha_F + (1 - decay) E D(G(z)).

    They change only in ``update`` (explicit, once per D step, with that step's outputs);
    ``real`` and ``fake`` hold alpha_R and alpha_F as Python floats, starting at ``init``.
    """

    def __init__(self, decay=0.99, init=0.0):
        if not 0 <= decay < 1:
            raise ValueError(f"LeCamAnchors: decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.real = float(init)
        self.fake = float(init)

    @no_grad()
    def update(self, real_out, fake_out):
        """One EMA step with the batch means of D(real) and D(fake); returns (alpha_R, alpha_F)."""
        self.real = self.decay * self.real + (1 - self.decay) * float(real_out.mean().item())
        self.fake = self.decay * self.fake + (1 - self.decay) * float(fake_out.mean().item())
        return self.real, self.fake

    def __repr__(self):
        return f"LeCamAnchors(decay={self.decay}, real={self.real}, fake={self.fake})"


def lecam_regularizer(real_out, fake_out, anchors, one_sided=False):
    """LeCam (Tseng et al. 2021, "Regularizing Generative Adversarial Networks under Limited
    Data", arXiv:2104.03310): R_LC = E (D(x) - alpha_F)^2 + E (D(G(z)) - alpha_R)^2.

    ``real_out``, ``fake_out``: D's outputs; ``anchors``: a ``LeCamAnchors`` (its current
    values are used; call its ``update`` yourself). ``one_sided=True`` is the form of the
    authors' code: E max(0, D(x) - alpha_F)^2 + E max(0, alpha_R - D(G(z)))^2.
    """
    real_gap = real_out - anchors.fake
    fake_gap = anchors.real - fake_out
    if one_sided:
        real_gap, fake_gap = ew.relu(real_gap), ew.relu(fake_gap)
    return (real_gap * real_gap).mean() + (fake_gap * fake_gap).mean()


def pulling_away_term(embeddings):
    """EBGAN's pulling-away term (Zhao et al. 2017, "Energy-based Generative Adversarial
    Network", arXiv:1609.03126): f_PT(S) = 1/(N(N-1)) sum_{i != j} (S_i^T S_j / (|S_i| |S_j|))^2.

    ``embeddings`` (N, ...) with N >= 2, each row flattened and nonzero: the encoder's
    codes of a generated batch; added to G's loss to push the codes apart.
    """
    if embeddings.ndim < 2 or embeddings.shape[0] < 2:
        raise ValueError(f"pulling_away_term: expected a batch of at least 2 embeddings (N, ...), "
                         f"got shape {embeddings.shape}")
    n = embeddings.shape[0]
    rows = embeddings.reshape(n, -1)
    unit = rows / per_sample_norm(rows).reshape(n, 1)
    cosines = unit @ unit.T  # (N, N)
    off_diagonal = Tensor(1 - rows.xp.eye(n, dtype=rows.dtype)).to(rows.device)
    return (cosines * cosines * off_diagonal).sum() / (n * (n - 1))


def began_reconstruction_loss(autoencoder, x, eta=1):
    """BEGAN's L(v) = |v - D(v)|^eta (Berthelot et al. 2017, arXiv:1703.10717), eta in {1, 2},
    as the mean over every element (the authors' code takes the mean, the paper writes the
    pixel-wise norm); D is an autoencoder, D(v) has v's shape."""
    if eta not in (1, 2):
        raise ValueError(f"began_reconstruction_loss: eta must be 1 or 2, got {eta!r}")
    reconstruction = autoencoder(x)
    if reconstruction.shape != x.shape:
        raise ValueError(f"began_reconstruction_loss: D(x) has shape {reconstruction.shape}, expected {x.shape}")
    residual = (x - reconstruction).abs()
    return (residual if eta == 1 else residual * residual).mean()


def began_losses(real_loss, fake_loss, k):
    """BEGAN (Berthelot et al. 2017, "BEGAN: Boundary Equilibrium Generative Adversarial
    Networks", arXiv:1703.10717): (L_D, L_G) = (L(x) - k_t L(G(z)), L(G(z))).

    ``real_loss`` = L(x), ``fake_loss`` = L(G(z)) (``began_reconstruction_loss``); pass
    L(G(z)) of detached fakes in D's step and of G's fakes in G's step. ``k`` is k_t,
    from a ``BEGANController``.
    """
    return real_loss - k * fake_loss, fake_loss


class BEGANController:
    """BEGAN's proportional control of k (Berthelot et al. 2017, arXiv:1703.10717, eq. 4):
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1), and the convergence measure
    M_global = L(x) + |gamma L(x) - L(G(z))|.

    ``gamma`` = E L(G(z)) / E L(x), the diversity ratio; defaults: the paper's lambda_k = 0.001,
    k_0 = 0, gamma = 0.5. ``update`` (once per step, after D's) takes the step's losses.
    """

    def __init__(self, gamma=0.5, lambda_k=0.001, k=0.0):
        if not 0 < gamma <= 1:
            raise ValueError(f"BEGANController: gamma must be in (0, 1], got {gamma}")
        if not 0 <= k <= 1:
            raise ValueError(f"BEGANController: k must be in [0, 1], got {k}")
        self.gamma = gamma
        self.lambda_k = lambda_k
        self.k = float(k)
        self.convergence = math.nan  # M_global of the last update

    def update(self, real_loss, fake_loss):
        """k_{t+1} from L(x) and L(G(z)) (Tensors or floats); returns (k_{t+1}, M_global)."""
        real_loss, fake_loss = (float(v.item()) if isinstance(v, Tensor) else float(v)
                                for v in (real_loss, fake_loss))
        balance = self.gamma * real_loss - fake_loss
        self.k = min(max(self.k + self.lambda_k * balance, 0.0), 1.0)
        self.convergence = real_loss + abs(balance)
        return self.k, self.convergence

    def __repr__(self):
        return f"BEGANController(gamma={self.gamma}, lambda_k={self.lambda_k}, k={self.k})"


@no_grad()
def clip_weights(module, clip_value=0.01):
    """WGAN weight clipping (Arjovsky et al. 2017; seed 001): every parameter into [-c, c],
    applied after each critic update. 'A clearly terrible way to enforce a Lipschitz
    constraint' (the WGAN paper), kept for the original algorithm."""
    if clip_value <= 0:
        raise ValueError(f"clip_weights: clip_value must be positive, got {clip_value}")
    for parameter in module.parameters():
        parameter.data = parameter.xp.clip(parameter.data, -clip_value, clip_value)


# -- the registry --------------------------------------------------------------------------------
def _refuse(name, **unused):
    for argument, value in unused.items():
        if value is not None:
            raise TypeError(f"penalty {name!r} takes no {argument}")


def _need_fake(name, fake):
    if fake is None:
        raise ValueError(f"penalty {name!r} needs the fake batch, got fake=None")


def _call_gradient_penalty(discriminator, real, fake, alpha, delta, **params):
    _refuse("gradient_penalty", delta=delta)
    _need_fake("gradient_penalty", fake)
    return gradient_penalty(discriminator, real, fake, alpha=alpha, **params)


def _call_max_gradient_penalty(discriminator, real, fake, alpha, delta, **params):
    _refuse("max_gradient_penalty", delta=delta)
    _need_fake("max_gradient_penalty", fake)
    return gradient_penalty(discriminator, real, fake, alpha=alpha, reduce="max", **params)


def _call_dragan(discriminator, real, fake, alpha, delta, **params):
    return dragan_penalty(discriminator, real, delta=delta, alpha=alpha, **params)


def _call_r1(discriminator, real, fake, alpha, delta):
    _refuse("r1", alpha=alpha, delta=delta)
    return r1_penalty(discriminator, real)


def _call_r2(discriminator, real, fake, alpha, delta):
    _refuse("r2", alpha=alpha, delta=delta)
    _need_fake("r2", fake)
    return r2_penalty(discriminator, fake)


def _call_wgan_div(discriminator, real, fake, alpha, delta, **params):
    _refuse("wgan_div", delta=delta)
    _need_fake("wgan_div", fake)
    return wgan_div_penalty(discriminator, real, fake, alpha=alpha, **params)


def _call_lecam(discriminator, real, fake, alpha, delta, anchors, one_sided, update):
    """D on both batches; with ``update``, the anchors take this step's outputs first."""
    _refuse("lecam", alpha=alpha, delta=delta)
    _need_fake("lecam", fake)
    real_out, fake_out = discriminator(real.detach()), discriminator(fake.detach())
    if update:
        anchors.update(real_out, fake_out)
    return lecam_regularizer(real_out, fake_out, anchors, one_sided=one_sided)


# name -> (the call, which batch D reads: "real", "fake" or "both", the parameters and their defaults)
_REGISTRY = {
    "gradient_penalty": (_call_gradient_penalty, "both",
                         {"center": 1.0, "one_sided": False, "norm_axes": None, "reduce": "mean"}),
    "max_gradient_penalty": (_call_max_gradient_penalty, "both", {"center": 1.0, "one_sided": False,
                                                                  "norm_axes": None}),
    "dragan": (_call_dragan, "real", {"k": 1.0, "c": 10.0, "perturbation": "paper"}),
    "r1": (_call_r1, "real", {}),
    "r2": (_call_r2, "fake", {}),
    "wgan_div": (_call_wgan_div, "both", {"k": 2.0, "p": 6.0}),
    "lecam": (_call_lecam, "both", {"anchors": None, "one_sided": False, "update": True}),
}


class Penalty:
    """A registry entry with its parameters: ``penalty(D, real, fake=None, *, alpha=None,
    delta=None)`` = the named penalty of D (a scalar Tensor, without lambda).

    ``alpha``: interpolation weights (gradient_penalty, max_gradient_penalty, wgan_div;
    dragan with perturbation="authors_code"); ``delta``: DRAGAN's perturbation. A penalty
    that does not use one refuses it (TypeError). ``reads``: the batch D is evaluated on,
    "real", "fake" or "both" (interpolates take the real batch's condition).
    """

    def __init__(self, name, params):
        self.name = name
        self.params = dict(params)
        self._call, self.reads, _ = _REGISTRY[name]

    def __call__(self, discriminator, real, fake=None, *, alpha=None, delta=None):
        return self._call(discriminator, real, fake, alpha, delta, **self.params)

    # -- state, for checkpoints: LeCam's anchors move with training ------------------------------
    def state_arrays(self) -> dict:
        """{"anchors": [alpha_R, alpha_F]} for lecam, {} for the stateless penalties."""
        anchors = self.params.get("anchors")
        return {} if anchors is None else {"anchors": numpy.array([anchors.real, anchors.fake])}

    def check_state_arrays(self, arrays: dict):
        """One ValueError when ``arrays`` is not what ``state_arrays`` of this penalty gives."""
        expected = set(self.state_arrays())
        if set(arrays) != expected:
            raise ValueError(f"penalty {self.name!r}: state keys {sorted(arrays)}, expected {sorted(expected)}")
        anchors = arrays.get("anchors")
        if anchors is not None and (anchors.shape != (2,) or anchors.dtype.kind != "f"
                                    or not numpy.isfinite(anchors).all()):
            raise ValueError(f"penalty {self.name!r}: 'anchors' is a {anchors.dtype} array of shape "
                             f"{anchors.shape}, expected 2 finite floats (alpha_R, alpha_F)")

    def load_state_arrays(self, arrays: dict):
        if "anchors" in arrays:
            anchors = self.params["anchors"]
            anchors.real, anchors.fake = (float(v) for v in arrays["anchors"])

    def __repr__(self):
        settings = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        return f"Penalty({self.name!r}{', ' if settings else ''}{settings})"


def names() -> list[str]:
    """The registry's penalty names, for ``get``."""
    return list(_REGISTRY)


def get(name: str, **params) -> Penalty:
    """The penalty ``name`` with ``params`` (the rest at their defaults): ``get("dragan", k=1.0)``.

    ValueError for an unknown name (listing the known ones) or a bad choice; TypeError for a
    parameter the penalty does not take. ``lecam`` without ``anchors`` gets its own
    ``LeCamAnchors()``, updated at every call.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown penalty {name!r}; expected one of: {', '.join(_REGISTRY)}")
    defaults = _REGISTRY[name][2]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise TypeError(f"penalty {name!r}: unknown parameter(s) {', '.join(unknown)}; "
                        f"expected: {', '.join(defaults) or 'none'}")
    settings = {**defaults, **params}
    if "reduce" in settings:
        _check_choice(name, "reduce", settings["reduce"], REDUCTIONS)
    if "perturbation" in settings:
        _check_choice(name, "perturbation", settings["perturbation"], DRAGAN_PERTURBATIONS)
    if name == "lecam" and settings["anchors"] is None:
        settings["anchors"] = LeCamAnchors()
    return Penalty(name, settings)


# the trainer's --penalty choices: the registry's gradient penalties and the constraints on D
NAMES = ("none", *_REGISTRY, "weight_clipping", "spectral_norm")


def _setting_kind(default):
    """The kind of value a config may give a parameter with this default, or None: a parameter
    whose default is None (norm_axes, LeCam's anchors object) is not a config setting."""
    if isinstance(default, bool):
        return bool
    if isinstance(default, (int, float)):
        return float
    if isinstance(default, str):
        return str
    return None


def check_settings(name: str, params: dict):
    """One ValueError when ``params`` (a config's ``penalty_params``) is not a set of settings of
    the penalty ``name``: a constraint or "none" takes none; each key is one of the penalty's
    parameters whose default is a number, a bool or a string, with a value of that kind (numbers
    finite) and a valid choice."""
    if not params:
        return
    settable = {entry: {key: _setting_kind(default) for key, default in spec[2].items() if _setting_kind(default)}
                for entry, spec in _REGISTRY.items()}
    if not settable.get(name):
        raise ValueError(f"penalty_params {params} given, but penalty {name!r} takes no settings "
                         f"(those that do: {', '.join(entry for entry in settable if settable[entry])})")
    for key, value in params.items():
        kind = settable[name].get(key)
        if kind is None:
            known = "is not a config setting" if key in _REGISTRY[name][2] else "is unknown"
            raise ValueError(f"penalty {name!r}: {key!r} in penalty_params {known}; the settings are: "
                             f"{', '.join(settable[name])}")
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        fits = is_number and math.isfinite(value) if kind is float else isinstance(value, kind)
        if not fits:
            wanted = {float: "a finite number", bool: "true or false", str: "a string"}[kind]
            raise ValueError(f"penalty {name!r}: setting {key} must be {wanted}, got {value!r}")
    get(name, **params)  # the choices (perturbation, reduce)
