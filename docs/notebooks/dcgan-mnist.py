# %% [markdown]
# # Notebook: DCGAN on MNIST digits
#
# The [DCGAN tutorial](../tutorials/dcgan-mnist.md) as a notebook: the project's main job
# (`scratchgan train` with no options) from Python. The networks are the DCGAN of Radford,
# Metz & Chintala (2015, arXiv:1511.06434) with InfoGAN's extra fully connected layer
# (Chen et al. 2016, arXiv:1606.03657), trained with the non-saturating loss on the 5,000
# MNIST digits that ship with the install.

# %% tags=["parameters"]
steps = 1500  # the tutorial's run: about 5 minutes on 2 cores

# %%
import matplotlib.pyplot as plt
import numpy

from scratchgan import backend
from scratchgan.autograd.tensor import Tensor
from scratchgan.gan.models import interpolate_latents
from scratchgan.gan.trainer import TrainConfig, Trainer
from scratchgan.viz import image_tiles

backend.set_backend(backend.fastest())  # the Numba kernels when they import
trainer = Trainer(TrainConfig(steps=steps, seed=0))
print(trainer.config.model, trainer.config.loss, "latent dim", trainer.config.latent_dim)

# %% [markdown]
# ## Train
# Each step updates D once on a batch of 64 real and 64 generated digits, then G once.

# %%
history = [trainer.step() for _ in range(steps)]
print(f"{trainer.step_count} steps; last losses: D {history[-1]['d_loss']:.3f}, G {history[-1]['g_loss']:.3f}")

figure, axes = plt.subplots(figsize=(6, 3.2))
axes.plot([logs["d_loss"] for logs in history], label="discriminator", linewidth=0.8)
axes.plot([logs["g_loss"] for logs in history], label="generator", linewidth=0.8)
axes.axhline(2 * numpy.log(2), color="gray", linestyle="--", linewidth=1)  # D's loss at D = 1/2
axes.axhline(numpy.log(2), color="gray", linestyle=":", linewidth=1)  # G's loss at D = 1/2
axes.set_xlabel("step")
axes.set_ylabel("loss")
axes.legend()
plt.show()

# %% [markdown]
# ## Samples
# `Trainer.sample` draws from the generator (its moving average of weights, as the run
# folder's figures do); `image_tiles` lays images in $[-1, 1]$ out as one picture.

# %%
rng = numpy.random.default_rng(1)
latents = rng.standard_normal((64, trainer.config.latent_dim)).astype(trainer.dtype)
images = trainer.sample(latents=Tensor(latents))
plt.figure(figsize=(5, 5))
plt.imshow(image_tiles(images, 8, 8), cmap="gray", vmin=0, vmax=1)
plt.axis("off")
plt.show()

# %% [markdown]
# ## A walk in latent space
# Spherical interpolation between two latents keeps the norm typical of Gaussian $z$
# (White 2016, "Sampling Generative Networks", arXiv:1609.04468).

# %%
walk = interpolate_latents(latents[0], latents[1], 10).astype(trainer.dtype)
plt.figure(figsize=(8, 1.2))
plt.imshow(image_tiles(trainer.sample(latents=Tensor(walk)), 1, 10), cmap="gray", vmin=0, vmax=1)
plt.axis("off")
plt.show()

# %% [markdown]
# After the tutorial's 1500 steps the samples are clear digits of every class; this page
# was executed with a few dozen steps, so its samples are still blobs.
