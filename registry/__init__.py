"""Telecom credit registry (电信业务经营不良名单和失信名单登记系统)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.config import PROJECT_ROOT, default_instance_path, load_settings

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None, instance_path: Path | None = None) -> Flask:
    """Application factory: settings, database, web blueprints, command line."""
    from flask import Flask

    instance = Path(instance_path or default_instance_path()).resolve()
    settings = load_settings(instance, config)
    app = Flask(
        __name__,
        instance_path=str(instance),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_mapping(vars(settings))
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.MAX_UPLOAD_BYTES
    # One text field may carry a screening report's firms to save (10,000 lines of up to
    # 200 characters); the whole request stays within MAX_UPLOAD_BYTES.
    app.config["MAX_FORM_MEMORY_SIZE"] = 8 * 1024 * 1024

    from registry.web.jsonanswers import JSONAnswers

    app.json = JSONAnswers(app)

    from registry import database, web
    from registry.cli import register_commands

    database.init_app(app)
    web.init_app(app)
    register_commands(app.cli)
    if settings.PROXY_HOPS:
        # Outermost, before the public cache keys on host and scheme: the client address,
        # scheme and host as the trusted proxies saw them, never as a client claims them.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.PROXY_HOPS
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    return app
