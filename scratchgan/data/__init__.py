"""Data: toy distributions (``toy``) and image datasets with their file readers (``images``)."""

from scratchgan.data import images, toy
