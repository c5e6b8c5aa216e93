"""The collision guard on a hit: the stored parameters must be the requested ones.

Two parameter sets share an id when they differ only below the hash's float rounding. A hit is
therefore returned only when the stored columns equal the request, up to floating-point noise
(:func:`entropic._compare.same_value`); otherwise it is a :class:`HashCollisionError`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from entropic._compare import same_value
from entropic._params import Request
from entropic.errors import HashCollisionError

__all__ = ["check_hit", "check_same"]

T = TypeVar("T")


def check_hit(record: T, request: Request) -> T:
    """Return ``record`` when it holds ``request``'s values; raise otherwise.

    Raises:
        HashCollisionError: The stored values differ beyond floating-point noise.
    """
    if request.values.items() <= vars(record).items():
        return record  # every value stored exactly as requested (compared in C)
    mismatched = [
        (name, getattr(record, name), value)
        for name, value in request.values.items()
        if not same_value(getattr(record, name), value)
    ]
    if mismatched:
        detail = "; ".join(f"{n}={s!r} stored, {r!r} requested" for n, s, r in mismatched)
        raise HashCollisionError(
            f"id {request.key!r} is stored for different parameters ({detail}). "
            "entropic rounds floats to 12 decimal places before hashing, so values that "
            "differ only below 1e-12 share an id; rescale such a parameter (say, dt in "
            "femtoseconds) or give each parameter set an explicit 'id'"
        )
    return record


def check_same(model: type[Any], first: Request, again: Request) -> None:
    """Raise when two requests of one sweep share an id but differ beyond float noise."""
    check_hit(model(**first.values), again)
