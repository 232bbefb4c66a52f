"""Data: toy distributions (``toy``); image datasets and readers come beside it."""

from scratchgan.data import toy
