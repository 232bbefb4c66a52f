"""Training tricks, each usable on its own and from the Trainer.

Seed 000 ('Tricks to train GAN') lists one-sided label smoothing, historical generated
batches, feature matching, separate real and fake batches for batch norm, and DRAGAN
(in ``penalties``); the rest are the well-known ones from the literature, each cited.
"""

from __future__ import annotations

import copy

import numpy

from scratchgan import random
from scratchgan.autograd import engine, factories
from scratchgan.autograd.grad_mode import no_grad
from scratchgan.autograd.tensor import Tensor
from scratchgan.nn.module import Module, Parameter
from scratchgan.nn import init
from scratchgan.nn.utils import functional_call
from scratchgan.ops import loss as loss_ops
from scratchgan.ops import pairwise
from scratchgan.ops import shape as shape_ops

LOGIT_LOSSES = ("minimax", "nonsaturating", "maximum_likelihood")


# -- labels ----------------------------------------------------------------------------------
def discriminator_targets(batch_size, real, smoothing=1.0, flip_probability=0.0, like=None):
    """Targets for D's cross-entropy: 1 for real (``smoothing``, e.g. 0.9, with one-sided label
    smoothing), 0 for fake (never smoothed: only positives are, seed 000), each flipped to the
    other class with probability ``flip_probability`` (noisy labels). Shape (N, 1)."""
    if not 0.0 <= flip_probability < 0.5:
        raise ValueError(f"discriminator_targets: flip_probability must be in [0, 0.5), got {flip_probability}")
    if not 0.5 < smoothing <= 1.0:
        raise ValueError(f"discriminator_targets: smoothing must be in (0.5, 1], got {smoothing}")
    positive, negative = smoothing, 0.0
    own, other = (positive, negative) if real else (negative, positive)
    flips = random.generator().random((batch_size, 1)) < flip_probability
    targets = numpy.where(flips, other, own)
    if like is None:
        return Tensor(targets.astype(numpy.float32))
    return Tensor(like.xp.asarray(targets, dtype=like.dtype))


def discriminator_loss_with_targets(real_logits, fake_logits, real_targets, fake_targets):
    """E BCE(r, t_real) + E BCE(f, t_fake) with BCE(v, t) = -t log s(v) - (1 - t) log(1 - s(v)).

    With t_real = 0.9 this is one-sided label smoothing as Salimans et al. (2016) define it.
    Seed 000 writes it as J_D = -1/2 E 0.9 log D(x) - 1/2 E log(1 - D(G(z))), i.e. without
    the 0.1 log(1 - D(x)) term of the cross-entropy; both keep D from saturating at 1 on
    real data, and the cross-entropy form is the one frameworks use.
    """
    return (loss_ops.binary_cross_entropy_with_logits(real_logits, real_targets)
            + loss_ops.binary_cross_entropy_with_logits(fake_logits, fake_targets))


# -- historical generated batches ---------------------------------------------------------
class ReplayPool:
    """A pool of past generated samples mixed into D's fake batch (Shrivastava et al. 2017; seed
    000 'Historical generated batches'): each returned sample comes from the pool with
    probability ``mix``; the pool keeps up to ``capacity`` samples, replacing random entries.
    A conditional model's fakes keep their labels or codes: ``query_with_condition``."""

    def __init__(self, capacity=512, mix=0.5):
        if capacity < 1 or not 0.0 <= mix <= 1.0:
            raise ValueError(f"ReplayPool: need capacity >= 1 and mix in [0, 1], got {capacity}, {mix}")
        self.capacity, self.mix = int(capacity), float(mix)
        self.samples = None  # NumPy array (M, ...) of stored fakes
        self.conditions = None  # NumPy array (M, ...) of their labels or codes, when they have some

    def query(self, fakes):
        """D's fake batch: ``fakes`` (detached) with some rows swapped for pooled ones; updates the pool."""
        return self.query_with_condition(fakes, None)[0]

    def query_with_condition(self, fakes, condition):
        """(fake batch, its labels or codes): as ``query``, each pooled row with its own condition
        (``condition``: a NumPy array with one row per fake, or None)."""
        fresh = fakes.numpy().copy()
        fresh_condition = None if condition is None else numpy.array(condition, copy=True)
        generator = random.generator()
        batch = fresh.copy()
        batch_condition = None if condition is None else fresh_condition.copy()
        if self.samples is not None and len(self.samples):
            from_pool = generator.random(len(batch)) < self.mix
            picks = generator.integers(0, len(self.samples), size=int(from_pool.sum()))
            batch[from_pool] = self.samples[picks]
            if condition is not None:
                batch_condition[from_pool] = self.conditions[picks]
        self._store(fresh, fresh_condition, generator)
        return Tensor(fakes.xp.asarray(batch)), batch_condition

    def _store(self, fresh, condition, generator):
        if self.samples is None:
            self.samples = fresh[: self.capacity].copy()
            self.conditions = None if condition is None else condition[: self.capacity].copy()
            fresh = fresh[self.capacity:]
            condition = None if condition is None else condition[self.capacity:]
        room = self.capacity - len(self.samples)
        if room > 0:
            self.samples = numpy.concatenate([self.samples, fresh[:room]])
            if condition is not None:
                self.conditions = numpy.concatenate([self.conditions, condition[:room]])
                condition = condition[room:]
            fresh = fresh[room:]
        if len(fresh):
            slots = generator.integers(0, self.capacity, size=len(fresh))
            self.samples[slots] = fresh
            if condition is not None:
                self.conditions[slots] = condition

    def state_arrays(self) -> dict:
        arrays = {} if self.samples is None else {"samples": self.samples.copy()}
        if self.conditions is not None:
            arrays["conditions"] = self.conditions.copy()
        return arrays

    def load_state_arrays(self, arrays: dict):
        self.samples = arrays["samples"].copy() if "samples" in arrays else None
        self.conditions = arrays["conditions"].copy() if "conditions" in arrays else None


# -- feature matching ----------------------------------------------------------------------
def sequential_features(model, x, layer):
    """The output of ``model[:layer]`` (a Sequential's first ``layer`` modules) on x."""
    if not hasattr(model, "__getitem__"):
        raise TypeError("sequential_features: feature matching needs a Sequential discriminator")
    if not 0 < layer < len(model):
        raise ValueError(f"sequential_features: layer must be in [1, {len(model) - 1}], got {layer}")
    for module in list(model)[:layer]:
        x = module(x)
    return x


def feature_matching_loss(real_features, fake_features):
    """|| E_x f(x) - E_z f(G(z)) ||_2^2 (Salimans et al. 2016; seed 000 'Feature Matching'),
    f an intermediate layer of D; the real statistics are constants for the generator."""
    real_mean = real_features.detach().mean(axis=0)
    difference = fake_features.mean(axis=0) - real_mean
    return (difference * difference).sum()


# -- instance noise ----------------------------------------------------------------------------
class InstanceNoise:
    """Gaussian noise added to both D inputs, std annealed linearly from ``std`` to 0 over
    ``anneal_steps`` steps (Sonderby et al. 2017; Arjovsky & Bottou 2017): it makes the
    real and fake distributions overlap early in training."""

    def __init__(self, std=0.1, anneal_steps=1000):
        if std < 0 or anneal_steps < 1:
            raise ValueError(f"InstanceNoise: need std >= 0 and anneal_steps >= 1, got {std}, {anneal_steps}")
        self.std, self.anneal_steps = float(std), int(anneal_steps)

    def std_at(self, step):
        return self.std * max(0.0, 1.0 - step / self.anneal_steps)

    def apply(self, x, step):
        std = self.std_at(step)
        if std == 0.0:
            return x
        return x + factories.randn(*x.shape, dtype=x.dtype, device=x.device) * std  # drawn where x lives


# -- historical averaging ------------------------------------------------------------------------
class HistoricalAverage:
    """Historical averaging (Salimans et al. 2016, section 3.3; seed 000 cites the paper): each
    player's cost gets ||theta - (1/t) sum_{i=1..t} theta[i]||^2, theta[i] its parameters after
    its i-th update (theta[1] the initial ones), summed over every parameter. The average is a
    constant of the step, so the term's gradient is 2 (theta - average); ``update`` folds the
    new parameters into the average after each update: a_{t+1} = a_t + (theta - a_t) / (t + 1)."""

    def __init__(self, parameters):
        self.parameters = list(parameters)
        if not self.parameters:
            raise ValueError("HistoricalAverage: no parameters to average")
        self.averages = [p.data.copy() for p in self.parameters]
        self.count = 1

    def penalty(self) -> Tensor:
        """sum_p ||p - average_p||^2 (a Tensor in the graph of the parameters)."""
        total = None
        for parameter, average in zip(self.parameters, self.averages):
            difference = parameter - Tensor(average)
            term = (difference * difference).sum()
            total = term if total is None else total + term
        return total

    @no_grad()
    def update(self):
        self.count += 1
        for index, parameter in enumerate(self.parameters):
            self.averages[index] = self.averages[index] + (parameter.data - self.averages[index]) / self.count

    def state_arrays(self) -> dict:
        from scratchgan import backend

        arrays = {"count": numpy.array(self.count)}
        arrays.update({str(i): backend.to_numpy(a) for i, a in enumerate(self.averages)})
        return arrays

    def check_state_arrays(self, prefix, arrays: dict):
        expected = {"count"} | {str(i) for i in range(len(self.parameters))}
        if set(arrays) != expected:
            raise ValueError(f"the {prefix} section has keys {sorted(arrays)[:5]}, expected count and "
                             f"0..{len(self.parameters) - 1}")
        count = arrays["count"]
        if count.shape != () or count.dtype.kind not in "iu" or int(count) < 1:
            raise ValueError(f"'{prefix}/count' is {count!r}, expected an integer >= 1")
        for index, parameter in enumerate(self.parameters):
            found = arrays[str(index)]
            if found.shape != parameter.shape or found.dtype != parameter.dtype:
                raise ValueError(f"'{prefix}/{index}' is a {found.dtype} array of shape {found.shape}, "
                                 f"expected {parameter.dtype} of shape {parameter.shape} (its parameter's)")

    def load_state_arrays(self, arrays: dict):
        self.count = int(arrays["count"])
        xp = self.parameters[0].xp
        self.averages = [xp.asarray(arrays[str(i)]) for i in range(len(self.parameters))]


# -- packing -------------------------------------------------------------------------------------
class Packed(Module):
    """PacGAN (Lin et al. 2018): D sees packs of ``pack`` samples concatenated along the
    feature (N, F) or channel (N, C, H, W) axis, one logit per pack: (N, ...) -> D(N/m, m...)
    of shape (N/m, 1). Consecutive samples form a pack (a reshape; batches are i.i.d.), so a
    real pack holds only real samples and a fake pack only fakes. ``net`` is built for m times
    the features or channels."""

    def __init__(self, net, pack):
        super().__init__()
        if pack < 2:
            raise ValueError(f"Packed: pack must be >= 2, got {pack}")
        self.net, self.pack = net, int(pack)

    def forward(self, x):
        n = x.shape[0]
        if n % self.pack:
            raise ValueError(f"Packed: a batch of {n} samples does not split into packs of {self.pack}")
        return self.net(x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:]))

    def extra_repr(self):
        return f"pack={self.pack}"


# -- discriminator layers ----------------------------------------------------------------------
class MinibatchStdDev(Module):
    """Append the mean over features of the batch standard deviation as one extra feature
    (Karras et al. 2018): a (N, F) input becomes (N, F + 1); (N, C, H, W) becomes (N, C + 1, H, W).
    std = sqrt(var_batch + eps), so a collapsed batch (all samples alike) is visible to D."""

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        if x.shape[0] < 2:
            raise ValueError(f"MinibatchStdDev: needs a batch of at least 2, got shape {x.shape}")
        std = (x.var(axis=0) + self.eps).sqrt()
        statistic = std.mean()
        extra_shape = (x.shape[0], 1) + tuple(x.shape[2:])
        extra = shape_ops.broadcast_to(statistic.reshape((1,) * x.ndim), extra_shape)
        return shape_ops.concatenate([x, extra], axis=1)


class MinibatchDiscrimination(Module):
    """Salimans et al. (2016): ``M_i = x_i T`` reshaped (B kernels x C dims);
    ``o(x_i)_b = sum_{j != i} exp(-||M_i,b - M_j,b||_1)``;  output ``concat(x_i, o(x_i))``, (N, F + B)."""

    def __init__(self, in_features, num_kernels=16, kernel_dim=8, dtype=None):
        super().__init__()
        self.in_features, self.num_kernels, self.kernel_dim = in_features, num_kernels, kernel_dim
        self.T = Parameter(numpy.zeros((in_features, num_kernels * kernel_dim),
                                       dtype=numpy.float32 if dtype is None else dtype))
        init.normal_(self.T, 0.0, 0.1)

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"MinibatchDiscrimination({self.in_features}, ...): expected input (N, {self.in_features}), "
                f"got shape {x.shape}"
            )
        n = x.shape[0]
        m = (x @ self.T).reshape(n, self.num_kernels, self.kernel_dim)  # (N, B, C)
        # one primitive for o over all pairs: no (N, N, B, C) tensor of differences is built
        closeness = pairwise.pairwise_l1_closeness(shape_ops.transpose(m, 1, 0, 2))  # (B, N)
        return shape_ops.concatenate([x, shape_ops.transpose(closeness, 1, 0)], axis=1)

    def extra_repr(self):
        return f"{self.in_features}, num_kernels={self.num_kernels}, kernel_dim={self.kernel_dim}"


# -- exponential moving average of weights ----------------------------------------------------
class EMA:
    """An exponential moving average of a module's parameters (Yazici et al. 2019):
    shadow <- decay shadow + (1 - decay) param after each update; buffers are copied.
    ``shadow`` is a full copy of the module, used for sampling and evaluation."""

    def __init__(self, module, decay=0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA: decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.module = module
        self.shadow = copy.deepcopy(module)
        self.shadow.eval()

    @no_grad()
    def update(self):
        for (name, param), shadow_param in zip(self.module.named_parameters(), self.shadow.parameters()):
            shadow_param.data = self.decay * shadow_param.data + (1.0 - self.decay) * param.data
        for buffer, shadow_buffer in zip(self.module.buffers(), self.shadow.buffers()):
            shadow_buffer.data = buffer.data.copy()


# -- unrolled GAN ----------------------------------------------------------------------------
def unrolled_generator_loss(loss, discriminator, fake, real, steps, lr, optimizer=None):
    """Metz et al. (2017): the generator's loss against D after ``steps`` differentiable
    updates of D on this batch, keeping the graph so the generator's gradient sees how D
    would respond. With ``optimizer`` None the updates are plain gradient steps
    theta_{i+1} = theta_i - lr grad L_D(theta_i); given D's optimizer, they are its own rule
    (``Optimizer.differentiable_step``, e.g. Adam's moments), starting from its current state,
    as in the authors' notebook (``lr`` is then unused). With steps = 0 it is the ordinary
    generator loss. Neither D nor its optimizer is modified.
    """
    if steps < 0:
        raise ValueError(f"unrolled_generator_loss: steps must be >= 0, got {steps}")
    params = dict(discriminator.named_parameters())
    names, current = list(params), dict(params)
    slots = dict.fromkeys(names)
    for _ in range(steps):
        d_loss = loss.discriminator(functional_call(discriminator, current, real),
                                    functional_call(discriminator, current, fake))
        grads = engine.grad(d_loss, [current[n] for n in names], create_graph=True, allow_unused=True)
        for name, grad in zip(names, grads):
            if grad is None:
                continue
            if optimizer is None:
                current[name] = current[name] - lr * grad
            else:
                current[name], slots[name] = optimizer.differentiable_step(params[name], current[name], grad,
                                                                           slots[name])
    fake_out = functional_call(discriminator, current, fake)
    real_out = functional_call(discriminator, current, real) if loss.generator_needs_real else None
    return loss.generator(fake_out, real_out=real_out)


NAMES = {
    "label_smoothing": "one-sided label smoothing: real target 0.9 (logit losses)",
    "label_flip": "noisy labels: flip D's targets with a probability",
    "replay": "historical generated batches: a pool of past fakes mixed into D's batch",
    "feature_matching": "generator matches D's mean features on a chosen layer",
    "separate_batches": "D sees real-only and fake-only batches (batch-norm statistics)",
    "instance_noise": "Gaussian noise on D's inputs, annealed to 0",
    "d_steps": "k discriminator steps per generator step",
    "ttur": "two time-scale update rule: separate learning rates for G and D",
    "minibatch_std": "minibatch standard deviation feature in D",
    "minibatch_discrimination": "minibatch discrimination layer in D",
    "ema": "exponential moving average of the generator's weights",
    "unrolled": "unrolled GAN: generator loss through k differentiable D updates",
    "g_steps": "k generator steps per step (after the discriminator's)",
    "optimizer_g / optimizer_d": "a different optimizer per player (adam, rmsprop, sgd, nesterov)",
    "historical_averaging": "||theta - mean of past theta||^2 in each player's loss",
    "virtual_batch_norm": "G normalises with a fixed reference batch's statistics (dcgan)",
    "pack": "PacGAN: D sees m samples concatenated (mlp, dcgan)",
}
