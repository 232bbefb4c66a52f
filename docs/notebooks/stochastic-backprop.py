# %% [markdown]
# # Notebook: stochastic backpropagation and Gumbel-softmax
#
# The [stochastic backpropagation tutorial](../tutorials/stochastic-backprop.md) as a
# notebook. A generator's output is a sample; to train it by gradient descent the sample
# must be a differentiable function of the parameters. Two ways to get there:
# reparameterisation (Rezende, Mohamed & Wierstra 2014, "Stochastic Backpropagation and
# Approximate Inference in Deep Generative Models", arXiv:1401.4082) and, for categorical
# samples, the Gumbel-softmax relaxation (Jang, Gu & Poole 2016, "Categorical
# Reparameterization with Gumbel-Softmax", arXiv:1611.01144; Maddison, Mnih & Teh 2016,
# "The Concrete Distribution", arXiv:1611.00712).

# %% tags=["parameters"]
repetitions = 20000  # gradient estimates per estimator, as in the tutorial
gan_steps = 2000  # steps of the discrete GAN

# %%
import matplotlib.pyplot as plt
import numpy
from scipy import stats

import scratchgan as sg
from scratchgan.nn import functional as F

sg.manual_seed(0)

# %% [markdown]
# ## Two estimators of one derivative
# Minimise $\mathbb{E} \lvert X - 3 \rvert$ over $\mu$ with $X \sim N(\mu, 1)$; the exact
# derivative is $2 \Phi(\mu - 3) - 1$. Each row of the tensors below is one estimate from 4
# samples, and one `backward()` computes all of them.
#
# - reparameterisation: $X = \mu + \varepsilon$, so $\frac{d}{d\mu} \lvert X - 3 \rvert = \operatorname{sign}(X - 3)$;
# - score function: the surrogate $\lvert X - 3 \rvert \log p(X; \mu)$ with
#   $\lvert X - 3 \rvert$ detached, whose gradient is $\lvert X - 3 \rvert (X - \mu)$.

# %%
def reparameterised(mu, samples=4):
    mus = sg.Tensor(numpy.full((repetitions, 1), mu), requires_grad=True)
    x = mus + sg.Tensor(sg.random.generator().standard_normal((repetitions, samples)))
    (x - 3.0).abs().mean(axis=1).sum().backward()
    return mus.grad.numpy()[:, 0]


def score_function(mu, samples=4):
    mus = sg.Tensor(numpy.full((repetitions, 1), mu), requires_grad=True)
    x = sg.Tensor(mu + sg.random.generator().standard_normal((repetitions, samples)))  # no path to mu
    log_density = -0.5 * (x - mus) ** 2  # log N(x; mu, 1) up to a constant
    ((x - 3.0).abs().detach() * log_density).mean(axis=1).sum().backward()
    return mus.grad.numpy()[:, 0]


mu = 1.5
exact = 2 * stats.norm.cdf(mu - 3.0) - 1
reparam, score = reparameterised(mu), score_function(mu)
print(f"exact {exact:.4f}; reparameterisation mean {reparam.mean():.4f} (variance {reparam.var():.4f}); "
      f"score function mean {score.mean():.4f} (variance {score.var():.4f})")

figure, axes = plt.subplots(figsize=(6.5, 3.4))
bins = numpy.linspace(min(reparam.min(), score.min()), max(reparam.max(), score.max()), 60)
axes.hist(score, bins=bins, alpha=0.6, color="tab:orange", label="score function")
axes.hist(reparam, bins=bins, alpha=0.6, color="tab:blue", label="reparameterisation")
axes.axvline(exact, color="black", linestyle="--", label="exact")
axes.set_xlabel(f"estimate of the derivative at $\\mu$ = {mu}")
axes.set_ylabel("estimates")
axes.legend(fontsize=8)
plt.show()

# %% [markdown]
# Both means are within a few standard errors of the exact value; the reparameterised
# estimator's variance is about twenty times smaller.
#
# ## A GAN over five symbols
# The generator is a vector of logits $w$. Each sample is used straight-through
# (`gumbel_softmax(..., hard=True)`): its value is the one-hot argmax of
# $\log \operatorname{softmax}(w) + G$, with $G$ Gumbel noise, and its gradient is that of
# the relaxed sample. The discriminator sees one-hot vectors from the target and from the
# generator; both play the non-saturating game.

# %%
target = numpy.array([0.40, 0.25, 0.15, 0.12, 0.08])
logits = sg.nn.Parameter(numpy.zeros(5))
discriminator = sg.nn.Sequential(sg.nn.Linear(5, 32, dtype=numpy.float64), sg.nn.LeakyReLU(0.2),
                                 sg.nn.Linear(32, 1, dtype=numpy.float64))
loss = sg.gan.losses.get("nonsaturating")
d_optimizer = sg.optim.Adam(discriminator.parameters(), lr=1e-2, betas=(0.5, 0.999))
g_optimizer = sg.optim.Adam([logits], lr=1e-2, betas=(0.5, 0.999))
rng = numpy.random.default_rng(0)


def learned():
    e = numpy.exp(logits.numpy() - logits.numpy().max())
    return e / e.sum()


distance = []
for step in range(gan_steps):
    if step == int(0.6 * gan_steps):  # smaller steps at the end average over batches
        for optimizer in (d_optimizer, g_optimizer):
            optimizer.param_groups[0]["lr"] /= 5
    real = sg.Tensor(numpy.eye(5)[rng.choice(5, size=256, p=target)])
    fake = F.gumbel_softmax(logits.broadcast_to((256, 5)), tau=0.5, hard=True)
    d_loss = loss.discriminator(discriminator(real), discriminator(fake.detach()))
    d_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()
    g_loss = loss.generator(discriminator(fake))
    g_optimizer.zero_grad()
    g_loss.backward()
    g_optimizer.step()
    distance.append(0.5 * numpy.abs(learned() - target).sum())
print(f"learned softmax(w) {numpy.round(learned(), 3)}, total variation to the target {distance[-1]:.4f}")

figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
positions = numpy.arange(5)
left.bar(positions - 0.2, target, 0.4, label="target")
left.bar(positions + 0.2, learned(), 0.4, label="learned softmax(w)")
left.set_xlabel("symbol")
left.set_ylabel("probability")
left.legend(fontsize=8)
right.plot(distance, linewidth=0.8)
right.set_yscale("log")
right.set_xlabel("step")
right.set_ylabel("total variation to the target")
plt.show()

# %% [markdown]
# With the tutorial's 2000 steps the total variation falls to about 0.01; this page was
# executed with fewer steps and estimates.
