"""`/watchlists/new` and `/watchlists/<token>`: subscribe a webhook or a mail address to a
list of firms, then manage it (confirm the address, change the firms, see the delivery log,
resume, unsubscribe) without login.

The token in the address is the only key, so the pages are never cached and send no
referrer. Deliveries are made by the "watchlist" follower registered here (fan-out from
the publication log, then the webhook calls: registry/watchlists/), never in a request.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.database import get_session
from registry.errors import ValidationError
from registry.models import WatchDelivery, WatchSubscriber
from registry.services import watchlists
from registry.watchlists import digest, dispatch, fanout
from registry.web.messages import localize

bp = Blueprint("watchlists", __name__, url_prefix="/watchlists")
FOLLOWER = "watchlist"
INTERVAL_SECONDS = 5.0
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
LOG_SIZE = 50


def allowed_hosts(settings: object) -> list[str]:
    raw = str(getattr(settings, "WEBHOOK_ALLOWED_HOSTS", "") or "")
    return [host.strip() for host in raw.split(",") if host.strip()]


def follow(
    session: Session,
    hosts: list[str],
    base_url: str = "",
    timeout: float = dispatch.TIMEOUT_SECONDS,
) -> bool:
    """The follower's step: fan the new changes out, then send what is due (webhook calls,
    and the daily digests once their day is over)."""
    caught_up = fanout.fan_out(session, base_url=base_url)
    delivered = dispatch.deliver_due(session, hosts, timeout=timeout)
    return digest.send_digests(session, base_url) and delivered and caught_up


def init_app(app: Flask) -> None:
    from registry.web.indexing import add_follower

    def step(session: Session) -> bool:
        settings = app.config["SETTINGS"]  # read at each step: tests replace the settings
        return follow(session, allowed_hosts(settings), settings.BASE_URL, settings.WEBHOOK_TIMEOUT)

    add_follower(
        app,
        FOLLOWER,
        step,
        INTERVAL_SECONDS,
        gates_start=False,
    )
    app.register_blueprint(bp)


def _messages(errors: dict[str, str]) -> dict[str, str]:
    return {name: localize(message) for name, message in errors.items()}


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    values = {"url": "", "firms": "", "email": "", "mail_mode": "immediate"}
    if request.method == "GET":
        return render_template("public/watchlist_new.html", values=values, errors={}), 200, HEADERS
    values = {name: request.form.get(name, default) for name, default in values.items()}
    return create(values, request.form.get("secret", ""))


def create(values: dict[str, str], secret: str) -> ResponseReturnValue:
    """Subscribe the mail address, or else the webhook, in `values` to its firms (one a line).

    The one path for every form that makes a watchlist (this page and the screening report):
    a 400 with the form and its messages on bad input, else the confirmation or the page.
    """
    values = {"mail_mode": "immediate"} | values
    session = get_session()
    by_mail = bool(values["email"].strip() and not values["url"].strip())
    try:
        if by_mail:
            watchlists.subscribe_email(
                session, values["email"], values["firms"], _link, values["mail_mode"]
            )
        else:
            subscriber = watchlists.subscribe(
                session,
                values["url"],
                secret,
                values["firms"],
                allowed_hosts(current_app.config["SETTINGS"]),
            )
    except ValidationError as exc:
        page = render_template(
            "public/watchlist_new.html", values=values, errors=_messages(exc.errors)
        )
        return page, 400, HEADERS
    session.commit()
    if by_mail:
        # The page's address goes only to the mailbox: whoever typed the address here
        # must not be able to confirm it.
        return render_template("public/watchlist_new.html", sent=values["email"]), 200, HEADERS
    return redirect(url_for("watchlists.manage", token=subscriber.token), 303), HEADERS


def _link(token: str) -> str:
    base = current_app.config["SETTINGS"].BASE_URL
    path = url_for("watchlists.manage", token=token)
    return (
        base.rstrip("/") + path
        if base
        else url_for("watchlists.manage", token=token, _external=True)
    )


def _subscriber(token: str) -> WatchSubscriber:
    subscriber = watchlists.by_token(get_session(), token)
    if subscriber is None:
        abort(404, _("没有这个关注清单，或其地址已失效。"))
    return subscriber


def _page(subscriber: WatchSubscriber, errors: dict[str, str], status: int) -> ResponseReturnValue:
    session = get_session()
    firms = watchlists.firms_of(session, subscriber)
    deliveries = session.scalars(
        select(WatchDelivery)
        .where(WatchDelivery.subscriber_id == subscriber.id)
        .order_by(WatchDelivery.id.desc())
        .limit(LOG_SIZE)
    )
    page = render_template(
        "public/watchlist.html",
        subscriber=subscriber,
        firms=firms,
        firms_text="\n".join(f.label for f in firms),
        deliveries=list(deliveries),
        errors=errors,
    )
    return page, status, HEADERS


@bp.get("/<token>")
def manage(token: str) -> ResponseReturnValue:
    return _page(_subscriber(token), {}, 200)


@bp.post("/<token>")
def change(token: str) -> ResponseReturnValue:
    subscriber = _subscriber(token)
    if subscriber.state == "unsubscribed":
        abort(409, _("该关注清单已退订。"))
    session = get_session()
    form = request.form
    actions: dict[str, Callable[[], object]] = {
        "firms": lambda: watchlists.replace_firms(session, subscriber, form.get("firms", "")),
        "unsubscribe": lambda: watchlists.unsubscribe(session, subscriber),
        "mail_mode": lambda: watchlists.set_mail_mode(
            session, subscriber, form.get("mail_mode", "")
        ),
        "confirm": lambda: watchlists.confirm(session, subscriber),
        "resume": lambda: watchlists.resume(session, subscriber),
    }
    action = actions.get(form.get("action", ""))
    if action is None:
        abort(400, _("未知的操作。"))
    try:
        action()
    except ValidationError as exc:
        session.rollback()
        return _page(subscriber, _messages(exc.errors), 400)
    session.commit()
    return redirect(url_for("watchlists.manage", token=token), 303), HEADERS
