"""The package's version (a module of its own: modules that record it import nothing else)."""
__version__ = "0.1.0"
