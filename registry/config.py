"""Typed settings: defaults → instance/config.py → REGISTRY_* environment → test overrides.

Checked once at start; a bad value stops the app with a message that says which setting
and why, instead of failing later in a request.
"""

from __future__ import annotations

import os
import runpy
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from registry import signing

ENV_PREFIX = "REGISTRY_"
# Values people copy from tutorials; never accepted as a secret.
WEAK_SECRETS = frozenset({"", "dev", "secret", "changeme", "change-me", "secret-key", "default"})
MIN_SECRET_LENGTH = 32
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ZERO_ALLOWED = frozenset({"PROXY_HOPS", "PUBLIC_CACHE_SHARED_MB"})


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    SECRET_KEY: str = ""
    DATABASE_URL: str = ""  # default: sqlite:///<instance>/registry.db
    INDEX_DIR: str = ""  # default: <instance>/index
    EVIDENCE_DIR: str = ""  # default: <instance>/evidence
    EXPORT_DIR: str = ""  # default: <instance>/exports (open-data files, registry/opendata.py)
    MAX_UPLOAD_BYTES: int = 20 * 1024 * 1024
    SESSION_IDLE_MINUTES: int = 30
    SESSION_ABSOLUTE_HOURS: int = 12
    # Login throttling (services.accounts): an account's failures beyond LOGIN_MAX_FAILURES
    # within the window make clients that failed wait 1, 2, 4 ... seconds (capped at the
    # window) between attempts on it; an address with LOGIN_ADDRESS_MAX_FAILURES failures
    # within the window is refused outright. A client that has not failed is never refused.
    LOGIN_MAX_FAILURES: int = 5
    LOGIN_ADDRESS_MAX_FAILURES: int = 30
    LOGIN_WINDOW_MINUTES: int = 15
    # How many reverse proxies in front of the app to trust for the client address, scheme
    # and host (X-Forwarded-For/-Proto/-Host/-Port); 0: those headers are ignored.
    PROXY_HOPS: int = 0
    BASE_URL: str = ""  # absolute links in feeds when served behind a proxy
    SECURE_COOKIES: bool = False  # set True when served over HTTPS
    PUBLIC_CACHE: bool = True  # keep anonymous public answers until the next write (web/cache.py)
    PUBLIC_CACHE_MB: int = 16  # per worker: the least recently used answers go first
    # The cache's second tier, shared by the workers of a host (web/sharedcache.py): a
    # SQLite file on the host's own disk, bounded (the oldest answers go first); 0: none.
    PUBLIC_CACHE_SHARED_MB: int = 256
    PUBLIC_CACHE_FILE: str = ""  # default: <instance>/public-cache.sqlite
    # Ed25519 key signing the publication log's tree heads (registry/signing.py): base64 of
    # the raw 32 bytes or PEM. On SQLite: instance/log-signing-key.pem when unset.
    LOG_SIGNING_KEY: str = ""
    # Public submissions (objections, credit repair, tip-offs): at most this many a day from
    # one client address and about one target (a listing, a firm); attachments per
    # submission; time limits in calendar days (credit repair: per ground, in the catalogue);
    # personal data of closed cases is deleted this many days after closing (registry sweep).
    SUBMISSIONS_PER_ADDRESS: int = 10
    SUBMISSIONS_PER_TARGET: int = 20
    SUBMISSION_MAX_FILES: int = 5
    OBJECTION_ACCEPT_DAYS: int = 3
    OBJECTION_DECIDE_DAYS: int = 15
    TIP_ACCEPT_DAYS: int = 7
    TIP_DECIDE_DAYS: int = 60
    SUBMISSION_RETENTION_DAYS: int = 365
    # Outgoing mail (registry/mail.py): no MAIL_HOST, no mail is sent (it waits in the
    # outbox). MAIL_TLS: "none", "starttls" or "ssl" (implicit TLS, usually port 465).
    # MAIL_CA_FILE: a PEM file of the CA that signed the mail server's certificate, for a
    # relay with a private CA; empty, the system's trusted CAs.
    MAIL_HOST: str = ""
    MAIL_PORT: int = 25
    MAIL_TLS: str = "none"
    MAIL_USERNAME: str = ""
    MAIL_PASSWORD: str = ""
    MAIL_FROM: str = ""
    MAIL_TIMEOUT: int = 10
    MAIL_CA_FILE: str = ""
    # Watchlist webhooks (registry/watchlists/): hosts an admin allows although they are or
    # resolve to loopback, private or link-local addresses; comma-separated. WEBHOOK_TIMEOUT:
    # seconds each socket operation of a call may take; a sender's claim on a delivery lasts
    # 12 of them, so a process killed mid-call holds the delivery up that long at most.
    WEBHOOK_ALLOWED_HOSTS: str = ""
    WEBHOOK_TIMEOUT: int = 10
    TESTING: bool = False


def default_instance_path() -> Path:
    return Path(os.environ.get(ENV_PREFIX + "INSTANCE_PATH") or PROJECT_ROOT / "instance")


def _coerce(name: str, raw: Any, target: type) -> Any:
    if target is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    if target is int:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
        if value < 0 or (value == 0 and name not in ZERO_ALLOWED):
            raise ConfigError(f"{name} must be positive, not {value}")
        return value
    return str(raw)


_TYPES = {"str": str, "int": int, "bool": bool}


def load_settings(instance_path: Path, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Merge the sources in order and check the result."""
    values: dict[str, Any] = {}
    known = {f.name: _TYPES[str(f.type)] for f in fields(Settings)}
    config_file = instance_path / "config.py"
    if config_file.exists():
        namespace = runpy.run_path(str(config_file))
        values.update({k: v for k, v in namespace.items() if k in known})
    for key, raw in os.environ.items():
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :] in known:
            values[key[len(ENV_PREFIX) :]] = raw
    if overrides:
        unknown = set(overrides) - set(known)
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        values.update(overrides)
    settings = Settings(**{k: _coerce(k, v, known[k]) for k, v in values.items()})
    settings = replace(settings, LOG_SIGNING_KEY=_log_signing_key(settings, instance_path))
    settings = replace(
        settings,
        DATABASE_URL=settings.DATABASE_URL or f"sqlite:///{instance_path / 'registry.db'}",
        INDEX_DIR=settings.INDEX_DIR or str(instance_path / "index"),
        EVIDENCE_DIR=settings.EVIDENCE_DIR or str(instance_path / "evidence"),
        EXPORT_DIR=settings.EXPORT_DIR or str(instance_path / "exports"),
        PUBLIC_CACHE_FILE=settings.PUBLIC_CACHE_FILE or str(instance_path / "public-cache.sqlite"),
    )
    check(settings)
    return settings


def _log_signing_key(settings: Settings, instance_path: Path) -> str:
    """The configured key; on SQLite (one host) the instance folder's, made when missing.
    In tests on PostgreSQL without one, a new key for this process."""
    if settings.LOG_SIGNING_KEY:
        return settings.LOG_SIGNING_KEY
    if not settings.DATABASE_URL or settings.DATABASE_URL.startswith("sqlite"):
        signing.ensure_key_file(instance_path)
        return (instance_path / signing.KEY_FILE).read_text("ascii")
    if settings.TESTING:
        return signing.new_key_pem()
    return ""


def check(settings: Settings) -> None:
    shared = not settings.DATABASE_URL.startswith("sqlite")
    if not settings.TESTING and shared and not settings.SECRET_KEY:
        raise ConfigError(
            "SECRET_KEY is not set. With a shared database (PostgreSQL) every host must use "
            "the same key: set REGISTRY_SECRET_KEY in the environment of every app host "
            f"(at least {MIN_SECRET_LENGTH} random characters, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
        )
    if not settings.TESTING and (
        settings.SECRET_KEY.strip().lower() in WEAK_SECRETS
        or len(settings.SECRET_KEY) < MIN_SECRET_LENGTH
    ):
        raise ConfigError(
            "SECRET_KEY is missing or too weak. Run `registry init` (it writes a random one to "
            "instance/config.py) or set REGISTRY_SECRET_KEY to at least "
            f"{MIN_SECRET_LENGTH} random characters."
        )
    if not settings.LOG_SIGNING_KEY:
        raise ConfigError(
            "LOG_SIGNING_KEY is not set. With a shared database (PostgreSQL) every host must "
            "sign the publication log with the same Ed25519 key: set REGISTRY_LOG_SIGNING_KEY "
            "in the environment of every app host (base64 of 32 random bytes, e.g. the output "
            "of `python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'`"
            ", or a PKCS#8 PEM)."
        )
    try:
        signing.parse_private_key(settings.LOG_SIGNING_KEY)
    except signing.SigningKeyError as exc:
        raise ConfigError(f"LOG_SIGNING_KEY is not an Ed25519 private key: {exc}") from None
    if settings.MAIL_TLS not in ("none", "starttls", "ssl"):
        raise ConfigError(f"MAIL_TLS must be none, starttls or ssl, not {settings.MAIL_TLS!r}")
    if settings.MAIL_CA_FILE and not Path(settings.MAIL_CA_FILE).is_file():
        raise ConfigError(f"MAIL_CA_FILE {settings.MAIL_CA_FILE!r} is not a file")
    if settings.MAIL_HOST and not settings.MAIL_FROM:
        raise ConfigError("MAIL_FROM is not set: the sender address of the mail MAIL_HOST sends")
    if not settings.DATABASE_URL.startswith(("sqlite", "postgresql")):
        raise ConfigError("DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL")


def write_instance_config(instance_path: Path) -> bool:
    """Create instance/config.py with a random secret unless it exists. True if written."""
    instance_path.mkdir(parents=True, exist_ok=True)
    config_file = instance_path / "config.py"
    if config_file.exists():
        return False
    config_file.write_text(
        "# Written by `registry init`. Keep it private; see README for the settings.\n"
        f"SECRET_KEY = {secrets.token_urlsafe(48)!r}\n",
        encoding="utf-8",
    )
    config_file.chmod(0o600)
    return True
