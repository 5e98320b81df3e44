"""Security headers on every response, and the session cookie flags."""

from __future__ import annotations

from flask import Flask, Response, request

# No inline script anywhere: pages work without JavaScript, and what little there is lives
# in /static. frame-ancestors 'none' stops clickjacking of the back-office forms.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def init_app(app: Flask) -> None:
    secure = bool(app.config.get("SECURE_COOKIES"))
    app.config.update(
        SESSION_COOKIE_NAME="registry_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
    )

    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if secure:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        if request.path.startswith("/admin"):
            # Regulator pages hold unpublished data: never cached by browsers or proxies.
            response.headers["Cache-Control"] = "no-store"
        return response
