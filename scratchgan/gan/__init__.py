"""GAN objectives, penalties, training tricks, models and the trainer."""

from scratchgan.gan import losses, penalties
