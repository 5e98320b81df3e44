"""The "mail" follower of a web app: sends the outbox (registry/mail.py) outside requests.

Started with the other followers in every serving process; the claim on each mail keeps
two processes from sending it twice. A commit wakes it, so a mail leaves within moments.
"""

from __future__ import annotations

from flask import Flask

from registry import mail
from registry.followers import Follower

FOLLOWER = "mail"
INTERVAL_SECONDS = 5.0


def init_app(app: Flask) -> None:
    from registry.database import get_db

    smtp = mail.SmtpSettings.from_settings(app.config["SETTINGS"])
    follower = Follower(
        FOLLOWER,
        lambda: get_db(app).session_factory(),  # looked up late: tests swap the factory
        lambda session: mail.deliver_due(session, smtp),
        INTERVAL_SECONDS,
        gates_start=False,
    )
    app.extensions.setdefault("registry_followers", {})[FOLLOWER] = follower
    app.extensions.setdefault("registry_after_commit", []).append(lambda _app: follower.wake())
