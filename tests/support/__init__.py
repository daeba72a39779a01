"""Helpers shared by the test modules (no tests here), one module per kind of thing:
``from support.images import random_pixels``. pyproject.toml's pytest ``pythonpath``
puts tests/ on sys.path, so no test module imports another test module or conftest."""
