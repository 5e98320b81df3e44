"""The read-only JSON API `/api/v1/...` (SPEC section 5), and the query-string parsing that
every machine-readable view shares: a bad parameter is a JSON 400, never a 500."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_babel import gettext as _

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20


class BadParameter(Exception):
    """A query-string parameter that cannot be used; answered as JSON 400."""

    def __init__(self, name: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.status = status


def json_error(status: int, message: str) -> Response:
    response = jsonify({"error": {"code": status, "message": message}})
    response.status_code = status
    return response


def allow_cors(response: Response) -> Response:
    """Open data: any site may read the GET answers."""
    if request.method in ("GET", "HEAD"):
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def int_arg(name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadParameter(name, _("参数 %(name)s 必须是整数", name=name)) from None
    if value < minimum:
        raise BadParameter(name, _("参数 %(name)s 不能小于 %(min)d", name=name, min=minimum))
    if maximum is not None and value > maximum:
        raise BadParameter(name, _("参数 %(name)s 不能大于 %(max)d", name=name, max=maximum))
    return value


def date_arg(name: str) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        if len(raw) != 10:
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(name, _("参数 %(name)s 须为 YYYY-MM-DD 格式的日期", name=name)) from None


def choice_arg(name: str, choices: tuple[str, ...] | frozenset[str] | set[str]) -> str | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if raw not in choices:
        raise BadParameter(
            name,
            _(
                "参数 %(name)s 的取值未知：%(value)s（可用：%(choices)s）",
                name=name,
                value=raw[:50],
                choices=", ".join(sorted(choices)),
            ),
        )
    return raw


def pagination() -> tuple[int, int]:
    page = int_arg("page", 1, minimum=1, maximum=1_000_000)
    per_page = int_arg("per_page", DEFAULT_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE)
    return page, per_page


def register_json_errors(blueprint: Blueprint) -> None:
    @blueprint.errorhandler(BadParameter)
    def bad_parameter(exc: BadParameter) -> Any:
        return json_error(exc.status, exc.message)

    blueprint.after_request(allow_cors)


register_json_errors(bp)
