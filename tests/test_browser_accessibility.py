"""WCAG 2.2 AA checks of the chat, login and admin pages in both themes, by axe-core (vendored for
the tests in tests/vendor/): no serious or critical violation on any of them, with content on the
page (a conversation with an answer, a provider and a model, a user)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.browser import last_answer, send, sign_in_as

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = ("serious", "critical")


@pytest.fixture
def browser_context_args(browser_context_args):
    """axe is injected as a script the app's Content-Security-Policy rightly refuses."""
    return {**browser_context_args, "bypass_csp": True}


def violations(page: Page) -> list[dict]:
    """axe's serious and critical WCAG A/AA findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, { runOnly: { type: 'tag', values: tags } });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' :: ' + (n.failureSummary || '')),
            }));
        }""",
        WCAG_AA,
    )
    return [v for v in found if v["impact"] in BLOCKING]


@pytest.fixture(params=["light", "dark"])
def theme(request, page: Page) -> str:
    """The system's colour scheme, set before a page is opened (a page follows it until the person
    picks a theme; switched on an open page, colours would be checked mid-transition)."""
    page.emulate_media(color_scheme=request.param)
    return request.param


def test_the_login_and_register_pages(page: Page, live_server, theme):
    for path in ("/login", "/register"):
        page.goto(live_server.url + path)
        expect(page.locator("input[name=username]")).to_be_visible()
        assert page.evaluate("document.documentElement.classList.contains('dark')") == (theme == "dark")
        assert violations(page) == [], path


def test_the_chat_page_with_a_conversation(theme, chat_page, fake_provider):
    page = chat_page["page"]
    assert page.evaluate("document.documentElement.classList.contains('dark')") == (theme == "dark")
    assert violations(page) == [], "the welcome screen"
    fake_provider.script(reply="Here is **an answer** with `code`:\n\n```python\nprint('hi')\n```")
    send(page, "show me some code")
    expect(last_answer(page).locator("pre")).to_be_visible()
    expect(last_answer(page).get_by_test_id("message-usage")).to_be_visible()
    assert violations(page) == [], "a conversation"


def test_the_admin_pages(theme, chat_page):
    page, base = chat_page["page"], chat_page["url"]
    sign_in_as(page, base, chat_page["admin"].cookie)
    for path in ("/admin", "/admin/providers", "/admin/models", "/admin/users", "/admin/settings", "/admin/groups"):
        page.goto(base + path)
        expect(page.locator(".admin-main")).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert violations(page) == [], path
