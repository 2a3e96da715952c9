"""dd-notebook: a Jupyter toolkit for the Fermilab Data Dispatcher."""

__version__ = "0.1.0"

__all__ = ["__version__"]
