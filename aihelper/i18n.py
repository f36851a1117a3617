"""Translations: gettext catalogs read by Flask-Babel, one for the server and one for the pages.

    translations/<locale>/LC_MESSAGES/messages.po   what the server says (Python and Jinja)
    translations/<locale>/LC_MESSAGES/js.po         what the pages' scripts say

Message ids are keys ("session_not_found"), translated in both catalogs, zh_CN and en. At start
the app compiles every .po file whose .mo is missing or older into instance/translations/ (where
Flask-Babel reads them; nothing is built into the source tree), and turns js.po into one catalog
per language served at /i18n/<language>.<content hash>.js, so that a changed catalog is a new URL.

The language is the `lang` cookie set by the page's language switch, else the browser's
Accept-Language, else Chinese. Work that outlives its request (a stream) says things in its
socket's language: `with speaking(language): gettext(...)`.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import AbstractContextManager
from pathlib import Path

import orjson
from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, Response, abort, current_app, has_request_context, request, url_for
from flask_babel import force_locale, gettext
from werkzeug.wrappers import Request

from aihelper.extensions import babel
from aihelper.failures import Term

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LOCALES = {"zh": "zh_CN", "en": "en"}
SOURCE = Path(__file__).resolve().parent.parent / "translations"
PAGE_DOMAIN = "js"

bp = Blueprint("i18n", __name__)


def N_(key: str) -> str:
    """Marks a message key chosen here and translated later (pybabel extract finds it)."""
    return key


def words(term: Term) -> str:
    """A message in the current language (the request's, or the one `speaking()` chose)."""
    values = {name: words(value) if isinstance(value, Term) else value for name, value in term.values.items()}
    return gettext(term.key, **values)


def current_language() -> str:
    return request_language(request) if has_request_context() else DEFAULT_LANGUAGE


def request_language(req: Request) -> str:
    """The language of `req`, also before Flask has a request context (a WSGI middleware)."""
    chosen = req.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return req.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE


def speaking(language: str) -> AbstractContextManager:
    """gettext in `language` (one of LANGUAGES) meanwhile, whatever the request's."""
    return force_locale(LOCALES.get(language, LOCALES[DEFAULT_LANGUAGE]))


def init_app(app: Flask) -> None:
    compiled = Path(app.instance_path) / "translations"
    compile_catalogs(SOURCE, compiled)
    babel.init_app(
        app,
        locale_selector=lambda: LOCALES[current_language()],
        default_locale=LOCALES[DEFAULT_LANGUAGE],
        default_translation_directories=str(compiled),
    )
    app.extensions["page_catalogs"] = {language: _page_catalog(LOCALES[language]) for language in LANGUAGES}
    app.register_blueprint(bp)


def compile_catalogs(source: Path, target: Path) -> None:
    """Each .po under `source` as a .mo under `target`, where missing or older. Written to a
    temporary file and moved in place: workers starting together never read half a file."""
    for po in source.glob("*/LC_MESSAGES/*.po"):
        # Under the name Babel looks for: it reads "zh_CN" as zh_Hans_CN.
        mo = target / str(Locale.parse(po.parts[-3])) / "LC_MESSAGES" / po.with_suffix(".mo").name
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source_file:
            catalog = read_po(source_file)
        mo.parent.mkdir(parents=True, exist_ok=True)
        partial = mo.with_name(f"{mo.name}.{os.getpid()}.tmp")
        with partial.open("wb") as out:
            write_mo(out, catalog)
        os.replace(partial, mo)


def _page_catalog(locale: str) -> tuple[str, bytes]:
    """js.po of `locale` as a script defining window.AIHelperCatalog (a plural message: its forms),
    and the hash of that script."""
    with (SOURCE / locale / "LC_MESSAGES" / f"{PAGE_DOMAIN}.po").open("rb") as source_file:
        catalog = read_po(source_file)
    messages = {}
    for message in catalog:
        if not message.id:
            continue  # the header
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        messages[key] = list(message.string) if isinstance(message.string, tuple) else message.string
    body = b"window.AIHelperCatalog = " + orjson.dumps(messages, option=orjson.OPT_SORT_KEYS) + b";\n"
    return hashlib.sha256(body).hexdigest()[:12], body


def page_catalog_url() -> str:
    """Where the page in the request's language gets its scripts' strings."""
    language = current_language()
    digest, _body = current_app.extensions["page_catalogs"][language]
    return url_for("i18n.page_catalog", language=language, digest=digest)


@bp.get("/i18n/<language>.<digest>.js")
def page_catalog(language: str, digest: str):
    known = current_app.extensions["page_catalogs"].get(language)
    if known is None or known[0] != digest:
        abort(404)
    response = Response(known[1], mimetype="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
