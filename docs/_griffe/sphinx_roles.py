"""A Griffe extension for the docs build: Sphinx cross-reference roles as inline code.

Some docstrings use Sphinx roles (:class:`~entropic.Store`, :meth:`Store.sweep`), which
Markdown would show literally. This turns each into a code span of the name the role shows:
the last component after a leading ``~``, the whole target otherwise.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|exc|data|obj):`(?P<target>[^`]+)`")


def _shown(match: re.Match[str]) -> str:
    target = match["target"].strip()
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def convert(text: str) -> str:
    """Replace every Sphinx role in ``text`` by a Markdown code span."""
    return _ROLE.sub(_shown, text)


class SphinxRoles(griffe.Extension):
    """Rewrites the docstring of every object as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Convert the roles in ``obj``'s docstring."""
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
