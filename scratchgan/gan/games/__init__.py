"""GAN families as games: one module per family, each a ``Game`` (``base``) that names its
players, their groups and their losses. ``get(name)`` is the game class of ``--model name``.

    unconditional  mlp, dcgan          G(z) against D(x)
    conditional    cgan                G(z, y) against D(x, y)
    acgan          acgan               G(z, y) against D(x) with a class head
    infogan        infogan             G(z, c) against D(x) with the Q head
    bigan          bigan, ali          G(z) and an encoder E(x) against D(x, z)
    aae            aae                 an autoencoder whose codes D tells from the prior's
    ebgan          ebgan               G(z) against an autoencoder D whose energy is its reconstruction error
"""

from __future__ import annotations

_GAMES = {}
# the order of `scratchgan list` and of error messages (games registered elsewhere follow)
ORDER = ("mlp", "dcgan", "cgan", "acgan", "infogan", "bigan", "ali", "aae", "ebgan")


def register(game_class):
    """Class decorator: make ``game_class`` the game of ``--model game_class.name``."""
    if not game_class.name or game_class.name in _GAMES:
        raise ValueError(f"register: a game needs a new name, got {game_class.name!r}")
    _GAMES[game_class.name] = game_class
    return game_class


def _load():
    # importing the family modules registers their games
    from scratchgan.gan.games import aae, acgan, bigan, conditional, ebgan, infogan, unconditional  # noqa: F401


def names() -> list:
    """The --model names: the built-in ones in ``ORDER``, then any other in registration order."""
    _load()
    return sorted(_GAMES, key=lambda name: ORDER.index(name) if name in ORDER else len(ORDER))


def get(name):
    """The game class of ``--model name`` (ValueError naming every model)."""
    _load()
    if name not in _GAMES:
        raise ValueError(f"unknown model {name!r}; expected one of: {', '.join(names())}")
    return _GAMES[name]
