"""The WSGI entry point for servers: ``gunicorn -c deploy/gunicorn.conf.py registry.wsgi:app``.

Each worker imports this module after the fork (no ``--preload``), so each creates its
app and starts its followers (registry.web.indexing): the search index caught up with the
database and this process's bitmaps loaded before it accepts its first request (bounded:
after WARM_SECONDS it serves anyway, and searches answer from what the index holds).

What the worker holds once it is ready (the app, the index's tables) lives as long as the
worker: it is moved out of the garbage collector's generations (`gc.freeze`), which then
look only at what requests allocate, not at every object of the warm worker again. A
request frees what it allocates by reference counting and makes little cyclic garbage,
so the youngest generation is collected after 20,000 new containers rather than 700
(several collections a search page otherwise).
"""

from __future__ import annotations

import gc

from registry import create_app
from registry.web.indexing import WARM_SECONDS, start_followers

app = create_app()
start_followers(app, wait=WARM_SECONDS)
gc.freeze()
gc.set_threshold(20_000, 10, 10)
