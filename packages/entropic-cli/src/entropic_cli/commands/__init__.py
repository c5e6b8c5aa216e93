"""The commands of ``entropic``, one module per command or small family of commands."""
