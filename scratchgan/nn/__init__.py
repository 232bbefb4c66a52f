"""Layers, the Module base class, initialisers and functional forms (PyTorch's names)."""

from scratchgan.nn import functional, init, utils
from scratchgan.nn.layers import (
    AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, Embedding, Flatten,
    Identity, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Softplus, Tanh, Unflatten, Upsample,
    VirtualBatchNorm1d, VirtualBatchNorm2d, reference_batch,
)
from scratchgan.nn.module import Module, Parameter
