"""scaffolder: from nothing to a working, reproducible AI project in one command."""

__version__ = "0.1.0"
