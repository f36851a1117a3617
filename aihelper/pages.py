"""What every Jinja page gets: the language, its scripts' catalog and versioned asset URLs (the
templates translate with Flask-Babel's `_`)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Flask, url_for

from aihelper.i18n import current_language, page_catalog_url


def register_page_helpers(app: Flask) -> None:
    static_root = Path(app.static_folder)

    @lru_cache(maxsize=256)
    def asset_version(filename: str) -> str:
        # The content hash in the URL lets browsers cache static files for a year safely.
        return hashlib.sha256((static_root / filename).read_bytes()).hexdigest()[:12]

    def asset(filename: str) -> str:
        return url_for("static", filename=filename, v=asset_version(filename))

    @app.context_processor
    def page_context():
        return {"asset": asset, "lang": current_language(), "page_catalog_url": page_catalog_url}
