"""Synthetic datasets written in the real formats, so tests and demos run the real readers.

Also a command line: ``python -m fastkp.data.synth {biwi,pascal,landmarks} OUT``.
"""

from .biwi import make_biwi
from .landmarks import make_landmarks
from .pascal import make_pascal

__all__ = ["make_biwi", "make_landmarks", "make_pascal"]
