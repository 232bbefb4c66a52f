"""Max pooling and sub-pixel reshuffling layers, with PyTorch's constructor signatures and reprs.

(``AvgPool2d`` and ``Upsample`` are in ``nn/layers.py``.) The layers hold no parameters;
each forwards to its functional form in ``nn/functional.py``.
"""

from __future__ import annotations

from scratchgan.nn import functional as F
from scratchgan.nn.module import Module
from scratchgan.ops import pool as pool_ops


class MaxPool2d(Module):
    """The maximum of each window, padding -inf; stride = kernel_size by default. Note PyTorch's
    argument order here (return_indices before ceil_mode), unlike F.max_pool2d's."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        pool_ops.pool_geometry("MaxPool2d", kernel_size, stride, padding, dilation)  # refuse bad values now
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r), r = upscale_factor."""

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W), r = downscale_factor: the inverse of PixelShuffle."""

    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"
