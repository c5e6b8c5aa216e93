"""The version of entropic-dask, which moves in lockstep with entropic-core."""

__version__ = "3.0.0"
