"""Shared links in Chromium: sharing from the chat page, the read-only page for someone without an
account, continuing in one's own account, revoking from My shared links — and hostile text in a
shared conversation staying text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import sign_in_as
from tests.fixtures.chat_client import ChatUser
from tests.fixtures.hostile_answers import ACTIVE_CONTENT, XSS_DIAGRAM, XSS_FORMULAS, XSS_SCRIPT_DIAGRAM

pytestmark = pytest.mark.browser

HOSTILE_TITLE = "{{ 7*7 }} </script><script>window.__xss = 1</script>"
HOSTILE_QUESTION = '<img src=x onerror="window.__xss = 1"> {{ 7*7 }}'
HOSTILE_ANSWER = (
    '<img src=x onerror="window.__xss = 1"> <b onclick="window.__xss = 1">raw</b>\n\n'
    '[click me](javascript:window.__xss=1) <a href="javascript:window.__xss=1">raw link</a>\n\n'
    '![pic](/static/img/favicon.svg" onerror="window.__xss=1)\n\n'
    "**bold answer** {{ 7*7 }}"
)


def imported(user: ChatUser, base_url: str, title: str, *contents: str) -> str:
    """A conversation of alternating questions and answers in `user`'s account; its session id."""
    document = {
        "format": "aihelper-conversations",
        "conversations": [
            {
                "session_id": "source-" + title,
                "title": title,
                "messages": [
                    {"role": "user" if i % 2 == 0 else "assistant", "content": c, "timestamp": f"2026-05-01T08:0{i}:00"}
                    for i, c in enumerate(contents)
                ],
            }
        ],
    }
    assert user.http.post(base_url + "/api/chat/import", json=document).status_code == 200
    sessions = user.http.get(base_url + "/api/chat/history").json()["sessions"]
    return next(s["session_id"] for s in sessions if s["title"] == title)


def test_hostile_text_in_a_shared_conversation_stays_text(page, live_server):
    owner = ChatUser.register(live_server.url, "hostile_host")
    session_id = imported(owner, live_server.url, HOSTILE_TITLE, HOSTILE_QUESTION, HOSTILE_ANSWER)
    link = owner.http.post(f"{live_server.url}/api/chat/session/{session_id}/share", json={}).json()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(link["url"])
    expect(page.get_by_test_id("share-title")).to_have_text(HOSTILE_TITLE)
    expect(page.get_by_test_id("share-question")).to_have_text(HOSTILE_QUESTION)
    answer = page.get_by_test_id("share-answer")
    expect(answer.locator("strong")).to_have_text("bold answer")
    expect(answer).to_contain_text("{{ 7*7 }}")
    expect(page.locator('meta[name="robots"]')).to_have_attribute("content", "noindex, nofollow")
    expect(page.get_by_test_id("share-login")).to_be_visible()
    expect(page.get_by_test_id("share-author")).to_have_count(0)

    assert page.evaluate("window.__xss") is None, "no script ran"
    handlers = page.evaluate(
        """() => [...document.querySelectorAll('#app *')].flatMap(el => [...el.attributes]
              .filter(a => a.name.startsWith('on')).map(a => el.tagName + ' ' + a.name))"""
    )
    assert handlers == []
    assert page.locator('#app a[href^="javascript:"]').count() == 0
    assert page.locator("#app script").count() == 0
    assert "49" not in page.locator("#app").inner_text()
    assert errors == []


def test_formulas_and_diagrams_on_the_shared_page_render_and_cannot_run_anything(page, live_server):
    owner = ChatUser.register(live_server.url, "math_sharer")
    answer = "\n\n".join([r"$E = mc^2$", XSS_FORMULAS, XSS_DIAGRAM, XSS_SCRIPT_DIAGRAM, "The end."])
    session_id = imported(owner, live_server.url, "maths", "show me", answer)
    link = owner.http.post(f"{live_server.url}/api/chat/session/{session_id}/share", json={}).json()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(link["url"])
    shown = page.get_by_test_id("share-answer")
    expect(shown).to_contain_text("The end.")
    expect(shown.locator(".katex, .katex-error")).to_have_count(7)
    expect(shown.locator(".diagram")).to_have_count(2)
    for index in range(2):
        expect(shown.locator(".diagram").nth(index)).to_have_attribute("data-state", "drawn", timeout=20_000)
    expect(shown.locator(".katex a, .katex img, .katex .evil")).to_have_count(0)
    assert page.evaluate(ACTIVE_CONTENT) == []
    for node in shown.locator(".diagram").first.locator(".diagram-view .node").all():
        node.click()
    assert page.evaluate("window.pwned") is None and dialogs == []


def test_a_conversation_shared_from_the_chat_page_is_read_continued_and_revoked(chat_page, browser, screenshot_dir):
    page, base_url, owner = chat_page["page"], chat_page["url"], chat_page["user"]
    session_id = imported(owner, base_url, "Sums", "What is 2 + 2?", "**4**", "And 3 + 3?", "6")
    page.goto(f"{base_url}/c/{session_id}")
    expect(page.locator(".message-assistant")).to_have_count(2)

    # Up to the first answer, for seven days, with the owner's name.
    page.locator(".message-assistant").first.hover()
    page.locator(".message-assistant").first.get_by_test_id("share-here").click()
    dialog = page.get_by_test_id("share-dialog")
    expect(dialog.locator(".share-up-to")).to_contain_text("**4**")
    dialog.get_by_test_id("share-expiry-7").click()
    dialog.get_by_test_id("share-show-name").click()
    dialog.get_by_test_id("share-create").click()
    url = dialog.get_by_test_id("share-url")
    expect(url).to_be_visible()
    share_url = url.input_value()
    assert share_url.startswith(base_url + "/s/")
    page.screenshot(path=str(screenshot_dir / "chat-share.png"))
    dialog.get_by_test_id("share-close").click()
    expect(dialog).to_be_hidden()

    reader = ChatUser.register(base_url, "reader_rita")
    reader_context = browser.new_context(locale="zh-CN")
    reader_page = reader_context.new_page()
    sign_in_as(reader_page, base_url, reader.cookie)
    reader_page.goto(share_url)
    expect(reader_page.get_by_test_id("share-message")).to_have_count(2)
    expect(reader_page.get_by_test_id("share-author")).to_contain_text("page_user")
    expect(reader_page.get_by_test_id("share-answer").locator("strong")).to_have_text("4")
    reader_page.screenshot(path=str(screenshot_dir / "shared-page.png"))
    reader_page.get_by_test_id("share-copy").click()
    reader_page.wait_for_url(f"{base_url}/c/**")
    expect(reader_page.get_by_test_id("chat-title")).to_have_text("Sums")
    expect(reader_page.locator(".message")).to_have_count(2)
    assert "/c/" in reader_page.url and session_id not in reader_page.url

    # The owner revokes it from My shared links: the reader's link is gone.
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-shares").click()
    listing = page.get_by_test_id("my-shares")
    expect(listing.get_by_test_id("my-share-title")).to_have_text(["Sums"])
    listing.get_by_test_id("my-share-revoke").click()
    page.locator(".el-message-box").get_by_role("button", name="撤销").click()
    expect(listing.get_by_test_id("my-share-title")).to_have_count(0)
    assert reader_page.request.get(share_url).status == 404
    reader_context.close()


def test_the_admin_lists_and_revokes_every_link_and_switches_sharing_off(page, live_server):
    admin = ChatUser.register(live_server.url, "admin_ada")
    owner = ChatUser.register(live_server.url, "owner_oscar")
    session_id = imported(owner, live_server.url, "Oscar's notes", "Hello", "Hi")
    link = owner.http.post(f"{live_server.url}/api/chat/session/{session_id}/share", json={}).json()
    sign_in_as(page, live_server.url, admin.cookie)

    page.goto(live_server.url + "/admin/shares")
    table = page.get_by_test_id("admin-shares-table")
    expect(table.get_by_test_id("admin-share-owner")).to_have_text(["owner_oscar"])
    expect(table.get_by_test_id("admin-share-title")).to_have_text(["Oscar's notes"])
    expect(table).to_contain_text("永不过期")  # no expiry was chosen
    table.get_by_test_id("admin-share-revoke").click()
    page.locator(".el-message-box").get_by_role("button", name="撤销").click()
    expect(table.get_by_test_id("admin-share-owner")).to_have_count(0)
    assert page.request.get(link["url"]).status == 404

    page.goto(live_server.url + "/admin/settings")
    switch = page.get_by_test_id("sharing-switch")
    expect(switch).to_have_class(re.compile("is-checked"))
    switch.click()
    expect(switch).not_to_have_class(re.compile("is-checked"))
    page.get_by_test_id("save-settings").click()
    expect(page.locator(".el-message--success")).to_be_visible()
    expect(page.get_by_test_id("sharing-switch")).not_to_have_class(re.compile("is-checked"))
    refused = owner.http.post(f"{live_server.url}/api/chat/session/{session_id}/share", json={})
    assert (refused.status_code, refused.json()["code"]) == (403, "sharing_disabled")
