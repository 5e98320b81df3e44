"""The WSGI entry point for servers: ``gunicorn registry.wsgi:app``.

Each worker imports this module after the fork (no ``--preload``), so each creates its
app and readies its search state — the index caught up with the database, the bitmaps
loaded (about 3 s at 100k firms) — before it accepts its first request; with
``registry:create_app()`` the first visitor of every fresh worker waited for that.
"""

from __future__ import annotations

from registry import create_app
from registry.search.app import warm

app = create_app()
warm(app)
