"""Response headers on every answer (SECURITY.md rule 7): the content security policy and its
companions, the request id, and no caching of anything but static files and avatars."""

from __future__ import annotations

from flask import Flask, g, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # Vue's global build compiles templates at run time (new Function), hence 'unsafe-eval';
        # inline scripts stay forbidden.
        "script-src 'self' 'unsafe-eval'",
        # Element Plus positions popovers with inline style attributes.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def add_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers["X-Request-ID"] = g.get("request_id", "")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        # Pages and API answers carry someone's data: no cache may keep them (a shared computer's
        # back button, a proxy). Static files and avatars set their own caching first.
        headers.setdefault("Cache-Control", "no-store")
        return response
