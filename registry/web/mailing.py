"""The "mail" follower of a web app: sends the outbox (registry/mail.py) outside requests.

Started with the other followers in every serving process; the claim on each mail keeps
two processes from sending it twice. A commit wakes it, so a mail leaves within moments.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from registry import mail
from registry.followers import Follower

FOLLOWER = "mail"
INTERVAL_SECONDS = 5.0


def init_app(app: Flask) -> None:
    smtp = mail.SmtpSettings.from_settings(app.config["SETTINGS"])

    def sessions() -> Session:
        from registry.database import get_db

        return get_db(app).session_factory()

    follower = Follower(
        FOLLOWER,
        sessions,
        lambda session: mail.deliver_due(session, smtp),
        INTERVAL_SECONDS,
        gates_start=False,
    )
    app.extensions.setdefault("registry_followers", {})[FOLLOWER] = follower
    app.extensions.setdefault("registry_after_commit", []).append(lambda _app: follower.wake())
