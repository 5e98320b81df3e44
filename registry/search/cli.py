"""`registry reindex`: rebuild the search index from the database."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Rebuild the search index from the database, with a progress bar.

    Builds a complete new index next to the current one and swaps it in with one atomic
    rename, so the site keeps searching the old index until the new one is ready. The
    index then follows the database by itself (after each commit and at start).
    """
    from registry.database import get_db
    from registry.search.app import get_index

    index = get_index(current_app)
    with get_db(current_app).session_factory() as session:
        bar = None
        shown = 0

        def progress(done: int, total: int) -> None:
            nonlocal bar, shown
            if bar is None:
                bar = click.progressbar(length=total, label="indexing firms")
                bar.__enter__()
            bar.update(done - shown)
            shown = done

        try:
            total = index.rebuild(session, progress)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
    click.echo(f"search index rebuilt: {total} firm(s) with listings in force, in {index.root}")
