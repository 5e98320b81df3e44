"""The "mail" follower of a web app: sends the outbox (registry/mail.py) outside requests.

Started with the other followers in every serving process; the claim on each mail keeps
two processes from sending it twice. A commit wakes it, so a mail leaves within moments.
"""

from __future__ import annotations

from flask import Flask

from registry import mail
from registry.web.indexing import add_follower

FOLLOWER = "mail"
INTERVAL_SECONDS = 5.0


def init_app(app: Flask) -> None:
    smtp = mail.SmtpSettings.from_settings(app.config["SETTINGS"])
    add_follower(
        app,
        FOLLOWER,
        lambda session: mail.deliver_due(session, smtp),
        INTERVAL_SECONDS,
        gates_start=False,
    )
