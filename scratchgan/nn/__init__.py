"""Layers, the Module base class, initialisers and functional forms (PyTorch's names)."""

from scratchgan.nn import functional, init, utils
from scratchgan.nn.attention import SelfAttention2d
from scratchgan.nn.activation import (
    CELU, ELU, GELU, SELU, Hardsigmoid, Hardswish, Hardtanh, Mish, ReLU6, SiLU, Softsign,
)
from scratchgan.nn.layers import (
    AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Dropout,
    Embedding, Flatten,
    Identity, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Softplus, Tanh, Unflatten, Upsample,
    VirtualBatchNorm1d, VirtualBatchNorm2d, reference_batch,
)
from scratchgan.nn.module import Module, Parameter
from scratchgan.nn.normalization import GroupNorm, InstanceNorm1d, InstanceNorm2d, LayerNorm
from scratchgan.nn.padding import (
    CircularPad1d, CircularPad2d, ConstantPad1d, ConstantPad2d, ReflectionPad1d, ReflectionPad2d,
    ReplicationPad1d, ReplicationPad2d, ZeroPad2d,
)
from scratchgan.nn.pooling import MaxPool2d, PixelShuffle, PixelUnshuffle
