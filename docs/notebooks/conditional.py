# %% [markdown]
# # Notebook: a conditional GAN on MNIST digits
#
# The [conditional tutorial](../tutorials/conditional.md) as a notebook: the conditional GAN
# of Mirza & Osindero (2014, "Conditional Generative Adversarial Nets", arXiv:1411.1784)
# on the 5,000 MNIST digits that ship with the install. Both players receive the digit
# class: the generator draws the digit it is asked for, and the discriminator judges whether
# an image is a real example of that class.

# %% tags=["parameters"]
steps = 1500  # the tutorial's run: 6 to 20 minutes on 2 cores

# %%
import matplotlib.pyplot as plt
import numpy

from scratchgan import backend
from scratchgan.autograd.tensor import Tensor
from scratchgan.gan.trainer import TrainConfig, Trainer
from scratchgan.metrics import images as image_metrics
from scratchgan.viz import image_tiles

backend.set_backend(backend.fastest())  # the Numba kernels when they import
trainer = Trainer(TrainConfig(model="cgan", steps=steps, seed=0))
print(trainer.config.model, trainer.config.loss, "latent dim", trainer.config.latent_dim)

# %% [markdown]
# ## Train
# In the discriminator's step the fakes are generated for the real batch's labels, so the
# two batches match class for class and label frequencies give nothing away.

# %%
history = [trainer.step() for _ in range(steps)]
print(f"{trainer.step_count} steps; last losses: D {history[-1]['d_loss']:.3f}, G {history[-1]['g_loss']:.3f}")

figure, axes = plt.subplots(figsize=(6, 3.2))
axes.plot([logs["d_loss"] for logs in history], label="discriminator", linewidth=0.8)
axes.plot([logs["g_loss"] for logs in history], label="generator", linewidth=0.8)
axes.set_xlabel("step")
axes.set_ylabel("loss")
axes.legend()
plt.show()

# %% [markdown]
# ## One class per row
# `Trainer.sample` takes the labels to ask for as `condition`: row $r$ asks for digit $r$,
# and each column keeps its latent $z$ across the rows, so a column shows one "style" in
# ten classes.

# %%
rng = numpy.random.default_rng(1)
z = numpy.tile(rng.standard_normal((10, trainer.config.latent_dim)), (10, 1)).astype(trainer.dtype)
labels = numpy.repeat(numpy.arange(10), 10)
images = trainer.sample(latents=Tensor(z), condition=labels)
plt.figure(figsize=(5, 5))
plt.imshow(image_tiles(images, 10, 10), cmap="gray", vmin=0, vmax=1)
plt.axis("off")
plt.show()

# %% [markdown]
# ## Did it draw the digit it was asked for?
# The bundled digit classifier of the image metrics reads each sample back; the confusion
# matrix has the requested class in its rows and the predicted class in its columns.

# %%
labels = rng.integers(0, 10, size=500)
samples = trainer.sample(latents=Tensor(rng.standard_normal((500, trainer.config.latent_dim)).astype(trainer.dtype)),
                         condition=labels)
accuracy = image_metrics.class_accuracy(samples, labels)
print(f"class accuracy on 500 samples: {accuracy['accuracy']:.3f}")

figure, axes = plt.subplots(figsize=(4.6, 4))
shown = axes.imshow(accuracy["confusion"], cmap="Blues")
figure.colorbar(shown, ax=axes, label="samples")
axes.set_xticks(range(10))
axes.set_yticks(range(10))
axes.set_xlabel("predicted class")
axes.set_ylabel("requested class")
plt.show()

# %% [markdown]
# After the tutorial's 1500 steps each row is a clear digit of its class and the class
# accuracy is near 0.9; this page was executed with a few steps, so its samples are still
# blobs and the classifier's answers are close to chance.
