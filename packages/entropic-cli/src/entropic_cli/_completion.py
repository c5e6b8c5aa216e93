"""Shell completion of table names and run ids; it never fails loudly."""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem

from entropic.inspection import ids_with_prefix

__all__ = ["complete_id", "complete_table"]


def complete_table(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """The entropic tables whose names start with ``incomplete``."""
    from entropic_cli._context import state_of

    try:
        return [name for name in state_of(ctx).tables() if name.startswith(incomplete)]
    except Exception:  # completion must never fail loudly
        return []


def complete_id(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The run ids that start with ``incomplete`` (at most 100)."""
    from entropic_cli._context import state_of

    try:
        state = state_of(ctx)
        return [CompletionItem(i) for i in ids_with_prefix(state.engine, state.table, incomplete)]
    except Exception:  # completion must never fail loudly
        return []
