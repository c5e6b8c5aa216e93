"""The version of entropic-cli (it moves in lockstep with entropic-core)."""

__version__ = "3.0.0"
