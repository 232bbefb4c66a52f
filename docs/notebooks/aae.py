# %% [markdown]
# # Notebook: an adversarial autoencoder with a mixture prior
#
# The [adversarial autoencoder tutorial](../tutorials/aae.md) as a notebook: an
# autoencoder whose 2-D codes a discriminator pushes towards a prior of ten Gaussians on a
# circle (Makhzani, Shlens, Jaitly, Goodfellow & Frey 2016, "Adversarial Autoencoders",
# arXiv:1511.05644). Once the codes follow the prior, decoding prior samples generates
# digits.

# %% tags=["parameters"]
steps = 3000  # the tutorial's run: about 4 minutes on 2 cores
prior = "mixture"  # or "gaussian"

# %%
import matplotlib.pyplot as plt
import numpy

from scratchgan.gan.games.aae import prior_density
from scratchgan.gan.games.base import held_out_split
from scratchgan.gan.trainer import TrainConfig, Trainer
from scratchgan.metrics import toy
from scratchgan.viz import image_tiles

trainer = Trainer(TrainConfig(model="aae", prior=prior, latent_dim=2, steps=steps, seed=0))
game = trainer.game
print("player groups:", [group.name for group in game.groups()])

# %% [markdown]
# ## Train
# Each step has the paper's two phases: E and G minimise the reconstruction error
# $\lVert G(E(x)) - x \rVert^2$; then D tells prior samples from codes $E(x)$, and E alone
# is updated to fool it.

# %%
history = [trainer.step() for _ in range(steps)]
figure, axes = plt.subplots(figsize=(6, 3.2))
for name in ("reconstruction", "d_loss", "g_loss"):
    axes.plot([logs[name] for logs in history], label=name, linewidth=0.8)
axes.set_xlabel("step")
axes.set_ylabel("loss")
axes.legend()
plt.show()

# %% [markdown]
# ## Codes of held-out digits over the prior
# 1,000 digits the run never trained on, encoded and coloured by class, over the prior's
# density. The MMD between the codes and as many prior samples is beside the MMD between
# two prior samples, which is what a perfect match would score.

# %%
(train_x, train_y), (test_x, test_y) = held_out_split(trainer.dataset, trainer.config.seed + 7)
codes = game.encode(test_x)
rng = numpy.random.default_rng(1)
prior_a, prior_b = game.draw_latents(len(codes), rng), game.draw_latents(len(codes), rng)
bandwidths = [toy.median_heuristic(prior_a)]
print(f"code MMD {toy.mmd_rbf(codes, prior_a, bandwidths):.4f}, prior to prior {toy.mmd_rbf(prior_b, prior_a, bandwidths):.4f}")

xs = numpy.linspace(-7, 7, 160)
grid_x, grid_y = numpy.meshgrid(xs, xs)
density = prior_density(numpy.stack([grid_x.ravel(), grid_y.ravel()], axis=1), prior).reshape(grid_x.shape)
figure, axes = plt.subplots(figsize=(5.8, 5))
axes.contourf(grid_x, grid_y, density, levels=12, cmap="Greys", alpha=0.5)
shown = axes.scatter(codes[:, 0], codes[:, 1], c=test_y, cmap="tab10", s=4, vmin=-0.5, vmax=9.5)
figure.colorbar(shown, ax=axes, ticks=range(10), label="digit")
axes.set_aspect("equal")
axes.set_xlabel("$z_1$")
axes.set_ylabel("$z_2$")
plt.show()

# %% [markdown]
# ## Digits decoded from the prior
# `Trainer.sample` draws $z$ from the prior and decodes it.

# %%
samples = trainer.sample(64)
plt.figure(figsize=(4.5, 4.5))
plt.imshow(image_tiles(samples, 8, 8), cmap="gray", vmin=0, vmax=1)
plt.axis("off")
plt.show()

# %% [markdown]
# After the tutorial's 3000 steps the codes fill the ten components and the code MMD is
# within a factor of two of the prior-to-prior value; this page was executed with a few
# steps, so its codes are still a cloud near the origin.
