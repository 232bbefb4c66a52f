"""Adversarial losses: a discriminator loss and a generator loss per objective.

Conventions (part of the contract, so results compare with other frameworks): with
r = D(real) and f = D(fake) the raw discriminator outputs (logits for the
probability-based losses), sp = softplus and E = batch mean, every loss is a sum of
batch means and both players *minimise* their loss. The seeds write the same
objectives with D(x) = sigmoid(r) in (0, 1) and often a factor 1/2 in front of each
expectation; the logit forms below are equal to them up to that constant factor,
because -log sigmoid(v) = sp(-v) and -log(1 - sigmoid(v)) = sp(v), which are finite for
any logit.

    loss = sg.gan.losses.get("nonsaturating")
    d_loss = loss.discriminator(D(real), D(fake.detach()))
    g_loss = loss.generator(D(fake), real_out=None)
"""

from __future__ import annotations

import math

from scratchgan.autograd.tensor import Tensor
from scratchgan.ops import elementwise as ew
from scratchgan.ops import loss as loss_ops


def _mean(x):
    return x.mean()


class AdversarialLoss:
    """A pair of objectives: ``discriminator(real_out, fake_out)``, ``generator(fake_out, real_out)``."""

    name = ""
    #: "logit" (probability of real, before the sigmoid), "critic" (unbounded score) or "energy"
    output_kind = "logit"
    #: whether ``generator`` needs the discriminator's outputs on real data
    generator_needs_real = False

    def discriminator(self, real_out, fake_out):
        raise NotImplementedError(f"{self.name}: discriminator loss not defined")

    def generator(self, fake_out, real_out=None):
        raise NotImplementedError(f"{self.name}: generator loss not defined")

    def _require_real(self, real_out):
        if real_out is None:
            raise ValueError(f"{self.name}: the generator loss needs real_out (D on real data)")
        return real_out

    def params(self) -> dict:
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class Minimax(AdversarialLoss):
    """The original game (seed 000 'Mini-max Game Approach'; seed 002):

        J_D = -1/2 E log D(x) - 1/2 E log(1 - D(G(z))),   J_G = -J_D
    In logits: J_D = E sp(-r) + E sp(f);  J_G = -E sp(f) = E log(1 - D(G(z))).
    The generator's gradient vanishes when D confidently rejects fakes (D(G(z)) -> 0)."""

    name = "minimax"

    def discriminator(self, real_out, fake_out):
        return _mean(ew.softplus(-real_out)) + _mean(ew.softplus(fake_out))

    def generator(self, fake_out, real_out=None):
        return -_mean(ew.softplus(fake_out))


class NonSaturating(Minimax):
    """The heuristic non-saturating game (seed 000 'Heuristic Non Saturating Game'; seed 001 NSGAN):

        J_G = -1/2 E log D(G(z))   ->   in logits  E sp(-f)
    Same discriminator loss as ``minimax``; the generator's gradient is large exactly
    when D rejects its samples."""

    name = "nonsaturating"

    def generator(self, fake_out, real_out=None):
        return _mean(ew.softplus(-fake_out))


class MaximumLikelihood(Minimax):
    """The maximum-likelihood generator cost (seed 000 'Comparison of Generator Losses'):

        J_G = -1/2 E exp(sigmoid^-1(D(G(z))))   ->   in logits  -E exp(f)
    since sigmoid^-1(D) is the logit itself. At the optimal D it makes the generator's
    expected gradient that of maximum likelihood (Goodfellow 2014)."""

    name = "maximum_likelihood"

    def generator(self, fake_out, real_out=None):
        return -_mean(fake_out.exp())


class Wasserstein(AdversarialLoss):
    """WGAN critic (seed 001 'Wasserstein GAN'; seed 002): max over 1-Lipschitz D of E D(x) - E D(G(z)).

        critic loss E f - E r,   generator loss -E f
    The Lipschitz constraint is separate: weight clipping, a gradient penalty or spectral norm."""

    name = "wasserstein"
    output_kind = "critic"

    def discriminator(self, real_out, fake_out):
        return _mean(fake_out) - _mean(real_out)

    def generator(self, fake_out, real_out=None):
        return -_mean(fake_out)


class LeastSquares(AdversarialLoss):
    """LSGAN (Mao et al. 2017; seed 001 'Least Squares GAN'), targets a (fake), b (real), c (generator):

        J_D = 1/2 E (r - b)^2 + 1/2 E (f - a)^2,   J_G = 1/2 E (f - c)^2
    Presets: "binary" (a=0, b=1, c=1, used in the paper's experiments) and "pearson"
    (a=-1, b=1, c=0: b - c = 1 and b - a = 2, so training minimises the Pearson
    chi-square divergence chi^2((p_d + p_g)/2 || p_g))."""

    name = "least_squares"
    output_kind = "critic"
    PRESETS = {"binary": (0.0, 1.0, 1.0), "pearson": (-1.0, 1.0, 0.0)}

    def __init__(self, a=None, b=None, c=None, preset="binary"):
        if preset not in self.PRESETS:
            raise ValueError(f"least_squares: unknown preset {preset!r}; expected one of {', '.join(self.PRESETS)}")
        default_a, default_b, default_c = self.PRESETS[preset]
        self.a = default_a if a is None else float(a)
        self.b = default_b if b is None else float(b)
        self.c = default_c if c is None else float(c)

    def params(self):
        return {"a": self.a, "b": self.b, "c": self.c}

    def discriminator(self, real_out, fake_out):
        return 0.5 * _mean((real_out - self.b) ** 2) + 0.5 * _mean((fake_out - self.a) ** 2)

    def generator(self, fake_out, real_out=None):
        return 0.5 * _mean((fake_out - self.c) ** 2)


class Hinge(AdversarialLoss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018, SN-GAN):

        J_D = E relu(1 - r) + E relu(1 + f),   J_G = -E f"""

    name = "hinge"
    output_kind = "critic"

    def discriminator(self, real_out, fake_out):
        return _mean(ew.relu(1 - real_out)) + _mean(ew.relu(1 + fake_out))

    def generator(self, fake_out, real_out=None):
        return -_mean(fake_out)


class RelativisticAverage(AdversarialLoss):
    """RaGAN (Jolicoeur-Martineau 2018): D judges whether real data is more realistic than
    fake data on average. With D_ra(a, B) = sigmoid(a - E B):

        J_D = E sp(-(r - E f)) + E sp(f - E r)
        J_G = E sp(-(f - E r)) + E sp(r - E f)
    The generator loss depends on D(real) too: pass ``real_out``."""

    name = "relativistic_average"
    generator_needs_real = True

    def discriminator(self, real_out, fake_out):
        return (_mean(ew.softplus(-(real_out - _mean(fake_out))))
                + _mean(ew.softplus(fake_out - _mean(real_out))))

    def generator(self, fake_out, real_out=None):
        real_out = self._require_real(real_out)
        return (_mean(ew.softplus(-(fake_out - _mean(real_out))))
                + _mean(ew.softplus(real_out - _mean(fake_out))))


class RelativisticAverageLS(AdversarialLoss):
    """RaLSGAN (Jolicoeur-Martineau 2018), the least-squares relativistic average loss:

        J_D = E (r - E f - 1)^2 + E (f - E r + 1)^2
        J_G = E (f - E r - 1)^2 + E (r - E f + 1)^2"""

    name = "relativistic_average_ls"
    output_kind = "critic"
    generator_needs_real = True

    def discriminator(self, real_out, fake_out):
        return (_mean((real_out - _mean(fake_out) - 1) ** 2)
                + _mean((fake_out - _mean(real_out) + 1) ** 2))

    def generator(self, fake_out, real_out=None):
        real_out = self._require_real(real_out)
        return (_mean((fake_out - _mean(real_out) - 1) ** 2)
                + _mean((real_out - _mean(fake_out) + 1) ** 2))


class EnergyBased(AdversarialLoss):
    """EBGAN (Zhao et al. 2017; seed 001 'Energy Based GAN'): D outputs an energy (low on real
    data, e.g. an autoencoder's reconstruction error) and a margin m bounds fake energies:

        J_D = E D(x) + E relu(m - D(G(z))),   J_G = E D(G(z))"""

    name = "energy_based"
    output_kind = "energy"

    def __init__(self, margin=1.0):
        if margin <= 0:
            raise ValueError(f"energy_based: margin must be positive, got {margin}")
        self.margin = float(margin)

    def params(self):
        return {"margin": self.margin}

    def discriminator(self, real_out, fake_out):
        return _mean(real_out) + _mean(ew.relu(self.margin - fake_out))

    def generator(self, fake_out, real_out=None):
        return _mean(fake_out)


class FDivergence(AdversarialLoss):
    """f-GAN (Nowozin et al. 2016): the variational bound on an f-divergence,

        F(T) = E_P g_f(r) - E_Q f*(g_f(f)),   with the output activation g_f and conjugate f*
    The discriminator maximises F (loss -F); the generator minimises F's fake term, i.e.
    its loss is -E f*(g_f(f)) (the saddle-point objective), or with ``heuristic=True``
    the paper's non-saturating alternative -E g_f(f). Subclasses give g_f and f*(g_f(.))
    in closed, numerically stable forms."""

    output_kind = "critic"

    def __init__(self, heuristic=False):
        self.heuristic = bool(heuristic)

    def params(self):
        return {"heuristic": self.heuristic}

    def activation(self, v):
        """The output activation g_f."""
        raise NotImplementedError(f"{type(self).__name__} does not define g_f")

    def conjugate_of_activation(self, v):
        """f*(g_f(v)), in a stable closed form."""
        raise NotImplementedError(f"{type(self).__name__} does not define f*(g_f)")

    def discriminator(self, real_out, fake_out):
        return -(_mean(self.activation(real_out)) - _mean(self.conjugate_of_activation(fake_out)))

    def generator(self, fake_out, real_out=None):
        if self.heuristic:
            return -_mean(self.activation(fake_out))
        return -_mean(self.conjugate_of_activation(fake_out))


class FKL(FDivergence):
    """KL(P || Q): g_f(v) = v,  f*(t) = exp(t - 1)."""

    name = "f_kl"

    def activation(self, v):
        return v

    def conjugate_of_activation(self, v):
        return (v - 1).exp()


class FReverseKL(FDivergence):
    """KL(Q || P): ``g_f(v) = -exp(-v)``,  ``f*(t) = -1 - log(-t)``, so ``f*(g_f(v)) = v - 1``."""

    name = "f_reverse_kl"

    def activation(self, v):
        return -(-v).exp()

    def conjugate_of_activation(self, v):
        return v - 1


class FPearson(FDivergence):
    """Pearson chi^2: g_f(v) = v,  f*(t) = t^2/4 + t."""

    name = "f_pearson"

    def activation(self, v):
        return v

    def conjugate_of_activation(self, v):
        return 0.25 * v * v + v


class FHellinger(FDivergence):
    """Squared Hellinger: ``g_f(v) = 1 - exp(-v)``,  ``f*(t) = t / (1 - t)``, so ``f*(g_f(v)) = exp(v) - 1``."""

    name = "f_hellinger"

    def activation(self, v):
        return 1 - (-v).exp()

    def conjugate_of_activation(self, v):
        return v.exp() - 1


class FJensenShannon(FDivergence):
    """Jensen-Shannon: ``g_f(v) = log 2 - sp(-v)``,  ``f*(t) = -log(2 - e^t)``, so ``f*(g_f(v)) = sp(v) - log 2``.
    The discriminator loss is then E sp(-r) + E sp(f) - 2 log 2: the GAN loss shifted by
    the constant of seed 002's  max_D V = -2 log 2 + 2 JSD."""

    name = "f_js"

    def activation(self, v):
        return math.log(2.0) - ew.softplus(-v)

    def conjugate_of_activation(self, v):
        return ew.softplus(v) - math.log(2.0)


_REGISTRY = {cls.name: cls for cls in (
    Minimax, NonSaturating, MaximumLikelihood, Wasserstein, LeastSquares, Hinge,
    RelativisticAverage, RelativisticAverageLS, EnergyBased, FKL, FReverseKL, FPearson,
    FHellinger, FJensenShannon,
)}


def names() -> list[str]:
    """The registered loss names."""
    return list(_REGISTRY)


def get(name: str, **params) -> AdversarialLoss:
    """The loss called ``name``, built with ``params`` (e.g. get("least_squares", preset="pearson"))."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown loss {name!r}; expected one of: {', '.join(_REGISTRY)}")
    try:
        return _REGISTRY[name](**params)
    except TypeError as error:
        raise ValueError(f"loss {name!r}: bad parameters {params}: {error}") from None


# -- auxiliary terms of the AC-GAN and InfoGAN games --------------------------------------------
def auxiliary_classifier_loss(class_logits, labels):
    """AC-GAN's class term (Odena et al. 2016; seed 004 'AC-GAN'): the cross-entropy
    L_C = -E log P(C = c | X), softmax over D's class logits (N, K), labels (N,).

    D minimises L_C on real and on fake batches (it learns to classify both); G minimises
    L_C on its fakes with the labels it was asked for. The Trainer adds
    ``aux_weight`` L_C to each player's adversarial loss."""
    return loss_ops.cross_entropy(class_logits, labels)


def information_terms(q_output, codes, categorical):
    """InfoGAN's variational bound on I(c; G(z, c)) (Chen et al. 2016; seed 000 'InfoGAN'):

        I(c; G(z, c)) >= L_I = E_{c ~ p(c), x ~ G(z, c)} log Q(c | x) + H(c)
    with c = (one categorical code of K values, C continuous codes ~ U(-1, 1)) and Q factored:
        log Q(c | x) = log softmax(q_cat)[c_cat] + sum_j log N(c_j; mu_j, 1)
    (the continuous codes have unit variance, as in the InfoGAN code's MNIST setting), so
        -E log Q = CE(q_cat, c_cat) + E sum_j [(c_j - mu_j)^2 / 2 + log(2 pi) / 2].

    ``q_output`` (N, K + C): categorical logits then the means mu; ``codes`` (N, K + C):
    one-hot categorical code then the continuous values (NumPy or Tensor, constants).
    Returns Tensors {"categorical_nll", "continuous_nll", "nll"} (each -E log Q of its
    part; 0 without continuous codes) and the 0-d Tensors (constants, outside the graph)
    "mi_categorical" = log K - categorical_nll and "mi_lower_bound" = L_I = log K + C log 2
    - nll (H(U(-1, 1)) = log 2). Both players
    minimise lambda * nll: the bound is maximised over G and over Q (which shares D's trunk).
    """
    codes = codes.numpy() if isinstance(codes, Tensor) else codes
    continuous = q_output.shape[1] - categorical
    if codes.shape != tuple(q_output.shape) or continuous < 0:
        raise ValueError(f"information_terms: q_output {q_output.shape} and codes {codes.shape} must both be "
                         f"(N, K + C) with K = {categorical}")
    target = codes[:, :categorical].argmax(axis=1)
    categorical_nll = loss_ops.cross_entropy(q_output[:, :categorical], target)
    nll = categorical_nll
    if continuous:
        values = Tensor(q_output.xp.asarray(codes[:, categorical:], dtype=q_output.dtype))
        error = values - q_output[:, categorical:]
        continuous_nll = (0.5 * error * error).sum(axis=1).mean() + continuous * 0.5 * math.log(2 * math.pi)
        nll = categorical_nll + continuous_nll
    else:
        continuous_nll = categorical_nll * 0.0
    entropy = math.log(categorical) + continuous * math.log(2.0)
    return {"categorical_nll": categorical_nll, "continuous_nll": continuous_nll, "nll": nll,
            "mi_categorical": math.log(categorical) - categorical_nll.detach(),
            "mi_lower_bound": entropy - nll.detach()}
