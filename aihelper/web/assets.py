"""Assets: what every Jinja page gets (the language, its scripts' catalog, versioned asset URLs; the
templates translate with Flask-Babel's `_`), and static files for a fast first load: gzip for text
assets, and a year of caching for URLs that carry a content hash (`?v=`), which change whenever the
file does."""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Flask, request, url_for

from aihelper.i18n import current_language, page_catalog_url


def register_assets(app: Flask) -> None:
    _register_page_helpers(app)
    _register_static_file_handling(app)


COMPRESSIBLE = {"application/javascript", "text/javascript", "text/css", "image/svg+xml", "application/json"}
YEAR = 365 * 24 * 3600


# Above this size a file is compressed at level 1: level 9 took 0.4 s for Mermaid's 5.5 MB (in the
# worker's event loop, on its first request), level 1 takes 0.07 s for a file 17 % larger.
FAST_GZIP_ABOVE = 2 * 1024 * 1024


@lru_cache(maxsize=128)
def _gzipped(path: str, modified: float) -> bytes:
    # Keyed by modification time, so an edited file is compressed again.
    data = Path(path).read_bytes()
    return gzip.compress(data, compresslevel=1 if len(data) > FAST_GZIP_ABOVE else 9, mtime=0)


def _register_static_file_handling(app: Flask) -> None:
    static_root = Path(app.static_folder).resolve()

    @app.after_request
    def compress_and_cache_static(response):
        if request.endpoint != "static" or response.status_code != 200:
            return response
        if request.args.get("v"):
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = YEAR
            response.cache_control.immutable = True
        response.vary.add("Accept-Encoding")
        if response.mimetype not in COMPRESSIBLE or "gzip" not in request.accept_encodings:
            return response
        path = (static_root / request.view_args["filename"]).resolve()
        if static_root not in path.parents or not path.is_file():
            return response
        response.direct_passthrough = False
        response.set_data(_gzipped(str(path), path.stat().st_mtime))
        response.headers["Content-Encoding"] = "gzip"
        # The ETag describes the uncompressed file; a weak one stays correct for both forms.
        if response.headers.get("ETag", "").startswith('"'):
            response.headers["ETag"] = "W/" + response.headers["ETag"]
        return response


def _register_page_helpers(app: Flask) -> None:
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
