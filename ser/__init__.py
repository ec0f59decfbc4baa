"""ser-recipes: the shared library behind the egs/ recipes."""

__version__ = "0.1.0"
