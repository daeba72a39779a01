"""Synthetic datasets written in the real formats, so tests and demos run the real readers.

Also a command line: ``python -m fastkp.data.synth
{biwi,pascal,landmarks,regression,agegender,classify} OUT``.
"""

from .agegender import make_agegender
from .biwi import make_biwi
from .classify import make_classify
from .landmarks import make_landmarks
from .pascal import make_pascal
from .regression import make_regression

__all__ = ["make_agegender", "make_biwi", "make_classify", "make_landmarks", "make_pascal", "make_regression"]
