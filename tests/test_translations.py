"""The gettext catalogs (translations/) hold exactly what the code says, in both languages.

The server's messages are found the way `pybabel extract -F babel.cfg` finds them (Python and
Jinja, gettext/ngettext/_ and the N_ marker); the pages' by their t('…'), tn('…') and N_('…')
calls in static/js (Vue templates live in JavaScript strings, which Babel's extractor skips).
"""

from __future__ import annotations

import re

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from aihelper.i18n import LOCALES, SOURCE
from tests.fixtures.servers import PROJECT_ROOT

PAGE_CALL = re.compile(r"\b(?:t|tn|N_)\(\s*'([A-Za-z0-9_]+)'")


def server_messages_used() -> set[str]:
    with (PROJECT_ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = extract_from_dir(str(PROJECT_ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS)
    return {message if isinstance(message, str) else message[0] for _file, _line, message, _c, _x in found}


def page_messages_used() -> set[str]:
    return {
        key for script in (PROJECT_ROOT / "static" / "js").glob("*.js") for key in PAGE_CALL.findall(script.read_text())
    }


def catalog(locale: str, domain: str) -> dict[str, object]:
    with (SOURCE / locale / "LC_MESSAGES" / f"{domain}.po").open("rb") as source:
        messages = read_po(source)
    return {
        (message.id if isinstance(message.id, str) else message.id[0]): message.string
        for message in messages
        if message.id
    }


@pytest.mark.parametrize(("domain", "used"), [("messages", server_messages_used), ("js", page_messages_used)])
@pytest.mark.parametrize("locale", sorted(LOCALES.values()))
def test_every_message_used_is_translated_and_every_translation_is_used(locale, domain, used):
    defined, wanted = catalog(locale, domain), used()
    assert sorted(wanted - defined.keys()) == [], f"used but missing from {locale}/{domain}.po"
    assert sorted(defined.keys() - wanted) == [], f"in {locale}/{domain}.po but never used"
    untranslated = [key for key, text in defined.items() if not text or (isinstance(text, tuple) and not all(text))]
    assert untranslated == [], f"empty in {locale}/{domain}.po"


def test_the_pages_catalog_is_served_under_its_content_hash(client):
    client.set_cookie("lang", "en")
    page = client.get("/login").text
    url = re.search(r'<script src="(/i18n/en\.[0-9a-f]{12}\.js)"></script>', page).group(1)
    served = client.get(url)
    assert served.status_code == 200 and served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.text.startswith("window.AIHelperCatalog = ") and '"login":"Log in"' in served.text
    assert client.get(url.replace(".js", "0.js")).status_code == 404
