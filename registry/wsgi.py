"""The WSGI entry point for servers: ``gunicorn -c deploy/gunicorn.conf.py registry.wsgi:app``.

Each worker imports this module after the fork (no ``--preload``), so each creates its
app and starts its followers (registry.web.indexing): the search index caught up with the
database and this process's bitmaps loaded before it accepts its first request (bounded:
after WARM_SECONDS it serves anyway, and searches answer from what the index holds).
"""

from __future__ import annotations

from registry import create_app
from registry.web.indexing import WARM_SECONDS, start_followers

app = create_app()
start_followers(app, wait=WARM_SECONDS)
