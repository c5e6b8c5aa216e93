"""The version of entropic-core, entropic-dask and entropic-cli, which move in lockstep."""

__version__ = "3.0.0"
