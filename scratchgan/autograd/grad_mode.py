"""Whether operations record a graph: ``no_grad`` turns recording off in a block."""

from __future__ import annotations

import contextlib
import functools

_enabled = True


def is_grad_enabled() -> bool:
    """True when new operations record the graph needed for backward."""
    return _enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager (and decorator) that sets graph recording on or off, restoring it after."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.previous = None

    def __enter__(self):
        global _enabled
        self.previous = _enabled
        _enabled = self.mode
        return self

    def __exit__(self, *exc_info):
        global _enabled
        _enabled = self.previous
        return False


def no_grad(func=None):
    """``with no_grad():`` or ``@no_grad``: operations inside record no graph."""
    if func is None:
        return set_grad_enabled(False)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with set_grad_enabled(False):
            return func(*args, **kwargs)

    return wrapper


def enable_grad(func=None):
    """``with enable_grad():`` or ``@enable_grad``: record the graph even inside ``no_grad``."""
    if func is None:
        return set_grad_enabled(True)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with set_grad_enabled(True):
            return func(*args, **kwargs)

    return wrapper
