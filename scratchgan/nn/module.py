"""``Parameter`` and ``Module``: named, nested containers of tensors with PyTorch's semantics.

State-dict keys and their order are PyTorch's (a module's own parameters, then its
persistent buffers, then each child under ``child_name.``), so a PyTorch module's
``{k: v.numpy() for k, v in m.state_dict().items()}`` loads into the scratchgan twin.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy

from scratchgan import backend
from scratchgan.autograd.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as learnable (requires_grad=True by default)."""

    def __init__(self, data, requires_grad=True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: subclasses set attributes and define ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration -----------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        for table in (self._parameters, self._buffers, self._modules):
            if name in table and not _fits(table, value, self):
                del table[name]
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self._parameters and value is None:
            self._parameters[name] = None
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}.{name}: a buffer must be a Tensor or None")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor, persistent: bool = True):
        """A non-learnable tensor saved in the state dict (unless persistent=False)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer({name!r}): expected a Tensor or None")
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def register_parameter(self, name: str, parameter):
        if parameter is not None and not isinstance(parameter, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None")
        self._parameters[name] = parameter

    def add_module(self, name: str, module):
        self._modules[name] = module

    # -- running --------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def __call__(self, *args, **kwargs):
        for hook in self._forward_pre_hooks.values():
            hook(self, args)
        return self.forward(*args, **kwargs)

    def register_forward_pre_hook(self, hook) -> int:
        """``hook(module, args)`` runs before every forward (spectral norm recomputes its weight there).
        Returns a handle for ``remove_forward_pre_hook``."""
        handle = max(self._forward_pre_hooks, default=-1) + 1
        self._forward_pre_hooks[handle] = hook
        return handle

    def remove_forward_pre_hook(self, handle: int):
        del self._forward_pre_hooks[handle]

    def train(self, mode: bool = True):
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True):
        for parameter in self.parameters():
            if set_to_none or parameter.grad is None:
                parameter.grad = None
            else:
                parameter.grad = Tensor(parameter.xp.zeros_like(parameter.grad.data))

    def requires_grad_(self, requires_grad: bool = True):
        for parameter in self.parameters():
            parameter.requires_grad = requires_grad
        return self

    # -- traversal ------------------------------------------------------------------------
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True):
        """(name, module) for this module and every descendant, depth first (iterative).
        A module reachable under several names is listed once unless remove_duplicate=False."""
        stack, seen = [(prefix, self)], set()
        while stack:
            name, module = stack.pop()
            if remove_duplicate and id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))

    def modules(self):
        return (module for _, module in self.named_modules())

    def named_children(self):
        return ((name, m) for name, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, table: str, prefix: str = "", recurse: bool = True):
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True):
        return (b for _, b in self.named_buffers(recurse=recurse))

    def apply(self, fn):
        """Call ``fn(module)`` on each child's subtree in order, then on self (PyTorch's order)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- state dict -----------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, numpy.ndarray]":
        """{name: NumPy array} with PyTorch's keys and order (copies, safe to keep).
        A module shared under several names appears under each of them, as in PyTorch."""
        return OrderedDict((key, tensor.numpy().copy()) for key, tensor in self._state_tensors().items())

    def _state_tensors(self) -> "OrderedDict[str, Tensor]":
        tensors = OrderedDict()
        for module_name, module in self.named_modules(remove_duplicate=False):
            prefix = f"{module_name}." if module_name else ""
            for name, parameter in module._parameters.items():
                if parameter is not None:
                    tensors[prefix + name] = parameter
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent:
                    tensors[prefix + name] = buffer
        return tensors

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy arrays into the parameters and buffers, keeping each one's dtype and device.

        Values may be NumPy arrays, Tensors, or anything with ``.numpy()`` (PyTorch
        tensors: pass ``{k: v.detach().numpy()}`` or the state dict itself). Returns
        (missing_keys, unexpected_keys); with strict=True any of either is an error.
        All or nothing: every key, shape and dtype is checked before any array is copied.
        """
        owner = f"load_state_dict into {type(self).__name__}"
        own = self._state_tensors()
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"{owner}: missing keys {missing}, unexpected keys {unexpected}")
        arrays = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            array = _as_numpy(state_dict[key])
            if tuple(array.shape) != target.shape:
                raise ValueError(
                    f"{owner}: {key} has shape {tuple(array.shape)} in the state dict, "
                    f"expected {target.shape}"
                )
            # cast as PyTorch's copy_ does; complex would drop its imaginary part
            if array.dtype.kind not in "biuf":
                raise TypeError(
                    f"{owner}: {key} has dtype {array.dtype} in the state dict, expected numbers "
                    f"(bool, int or float) to cast to {target.dtype}"
                )
            arrays[key] = array
        for key, array in arrays.items():
            target = own[key]
            target.data = target.xp.asarray(array, dtype=target.dtype).copy()
        return missing, unexpected

    # -- dtype and device -------------------------------------------------------------------
    def to(self, device=None, dtype=None):
        """Move/cast parameters and floating buffers in place (identities kept, as PyTorch)."""
        for tensor in list(self.parameters()) + list(self.buffers()):
            floating = tensor.dtype.kind == "f"
            converted = tensor.to(device=device, dtype=dtype if floating else None)
            if converted is not tensor:
                tensor._data = converted.data  # same shape; a dtype/device change, not a value change
                tensor._version += 1
            if tensor.grad is not None:
                tensor.grad = tensor.grad.to(device=device, dtype=dtype if floating else None)
        return self

    def double(self):
        return self.to(dtype=numpy.float64)

    def float(self):
        return self.to(dtype=numpy.float32)

    # -- printing -----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ")
                 for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _fits(table, value, module) -> bool:
    """Whether assigning ``value`` keeps the name in the same registration table."""
    if table is module._parameters:
        return value is None or isinstance(value, Parameter)
    if table is module._modules:
        return isinstance(value, Module)
    return value is None or (isinstance(value, Tensor) and not isinstance(value, Parameter))


def _as_numpy(value):
    if isinstance(value, Tensor):
        return value.numpy()
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor
        return value.detach().cpu().numpy()
    return backend.to_numpy(value)  # NumPy and CuPy arrays, lists, numbers
