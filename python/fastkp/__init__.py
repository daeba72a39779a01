"""fastkp: fast keypoint regression and multi-label classification.

Importing the package is cheap; the compiled operators load with
``fastkp.ops`` (or ``fastkp.nn``), the data readers with ``fastkp.data``.
"""

__version__ = "0.1.0"
