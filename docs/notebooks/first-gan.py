# %% [markdown]
# # Notebook: your first GAN on the 8-Gaussian ring
#
# The [first tutorial](../tutorials/first-gan.md) as a notebook: train the non-saturating
# GAN of Goodfellow et al. (2014, "Generative Adversarial Nets", arXiv:1406.2661) on the
# ring of eight Gaussians of Metz et al. (2017, "Unrolled Generative Adversarial
# Networks", arXiv:1611.02163), step by step from Python, and look at what it learned.
#
# Run it from the repository root (`jupyter lab docs/notebooks/first-gan.py` opens the
# script as a notebook with jupytext installed).

# %% tags=["parameters"]
steps = 5000  # the tutorial's run: about a minute on 2 cores

# %% [markdown]
# ## Train
# `Trainer.step()` makes one discriminator update and one generator update and returns
# their losses.

# %%
import matplotlib.pyplot as plt
import numpy

from scratchgan.gan.trainer import TrainConfig, Trainer
from scratchgan.metrics import toy

trainer = Trainer(TrainConfig(data="ring8", steps=steps, seed=0))
history = [trainer.step() for _ in range(steps)]
print(f"{trainer.step_count} steps; last losses: D {history[-1]['d_loss']:.3f}, G {history[-1]['g_loss']:.3f}")

# %% [markdown]
# ## The losses
# At the equilibrium $D = 1/2$ everywhere, so D's loss is $2 \log 2$ and the
# non-saturating generator's loss is $\log 2$.

# %%
figure, axes = plt.subplots(figsize=(6, 3.2))
axes.plot([logs["d_loss"] for logs in history], label="discriminator", linewidth=0.8)
axes.plot([logs["g_loss"] for logs in history], label="generator", linewidth=0.8)
for value, name in ((2 * numpy.log(2), "2 log 2"), (numpy.log(2), "log 2")):
    axes.axhline(value, color="gray", linestyle="--", linewidth=1)
    axes.annotate(name, (0, value), xytext=(2, 3), textcoords="offset points", color="gray", fontsize=8)
axes.set_xlabel("step")
axes.set_ylabel("loss")
axes.legend()
plt.show()

# %% [markdown]
# ## Samples over the discriminator's surface
# A mode is covered when at least 1% of the samples lie within 3 standard deviations of
# its centre; the high-quality fraction is the share of samples that lie that close to
# some centre.

# %%
samples = trainer.sample(5000)
stats = toy.mode_statistics(samples, trainer.dataset.modes, trainer.dataset.mode_std)
print(f"modes covered: {stats['modes_covered']} of 8, high-quality samples: {stats['high_quality_fraction']:.1%}")

xs = numpy.linspace(-2.6, 2.6, 160)
grid_x, grid_y = numpy.meshgrid(xs, xs)
logits = trainer.discriminator_values(numpy.stack([grid_x.ravel(), grid_y.ravel()], axis=1))
probability = 1 / (1 + numpy.exp(-logits.reshape(grid_x.shape)))  # D(x) = sigmoid(f(x))

figure, axes = plt.subplots(figsize=(5.5, 4.6))
surface = axes.contourf(grid_x, grid_y, probability, levels=20, cmap="Greys", alpha=0.6)
figure.colorbar(surface, ax=axes, label="D(x)")
axes.scatter(samples[:1000, 0], samples[:1000, 1], s=3, color="tab:orange", label="generated")
modes = trainer.dataset.modes
axes.scatter(modes[:, 0], modes[:, 1], marker="+", s=60, color="black", label="mode centres")
axes.set_aspect("equal")
axes.set_xlabel("$x_1$")
axes.set_ylabel("$x_2$")
axes.legend(loc="upper right", fontsize=8)
plt.show()

# %% [markdown]
# With the tutorial's 5000 steps all eight modes are covered and about 85% of the samples
# are high quality; the page below was executed with fewer steps, so its figures are those
# of a generator still on its way to the modes.
