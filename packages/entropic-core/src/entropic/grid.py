"""expand_grid: the full Cartesian product of a parameter grid."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["expand_grid"]


def expand_grid(grid: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Expand a grid into every combination of its values.

    Args:
        grid: Each parameter name mapped to its candidate values.

    Returns:
        One dict per combination, in :func:`itertools.product` order (the last key varies
        fastest). An empty grid gives one empty parameter set.

    Raises:
        TypeError: ``grid`` is not a mapping, or a value is a string or not iterable.

    Example:
        >>> expand_grid({"alpha": [1, 2], "beta": [0.1]})
        [{'alpha': 1, 'beta': 0.1}, {'alpha': 2, 'beta': 0.1}]
    """
    if not isinstance(grid, Mapping):
        raise TypeError(f"expand_grid takes a mapping of lists, not {type(grid).__name__}")
    keys = list(grid)
    columns = []
    for key in keys:
        values = grid[key]
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise TypeError(
                f"grid[{key!r}] must be a list of candidate values, not {type(values).__name__}"
            )
        columns.append(list(values))
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*columns)]
