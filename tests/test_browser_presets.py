"""Presets in the browser (issue #17 part 3): a user creates a preset in the manager and starts a
conversation from it; the preset's first message waits in the composer, its name shows on the
conversation, and the provider receives its system prompt."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.fixtures.browser import collect_problems, last_answer


def test_a_user_creates_a_preset_and_starts_a_conversation_from_it(chat_page, fake_provider):
    page = chat_page["page"]
    problems = collect_problems(page)
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-presets").click()
    page.get_by_test_id("preset-new").click()
    page.get_by_test_id("preset-name").fill("翻译助手")
    page.get_by_test_id("preset-prompt").fill("Translate into English.")
    page.get_by_test_id("preset-first-message").fill("请翻译：你好")
    page.get_by_test_id("preset-save").click()
    expect(page.get_by_test_id("preset-table")).to_contain_text("翻译助手")
    page.keyboard.press("Escape")

    page.get_by_test_id("preset-picker").locator(".el-select__wrapper").click()
    page.get_by_role("option", name="翻译助手").click()
    expect(page.get_by_test_id("composer")).to_have_value("请翻译：你好")
    expect(page.get_by_test_id("preset-tag")).to_have_text("翻译助手")
    fake_provider.script(reply="Please translate: hello")
    page.get_by_test_id("send").click()

    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("Please translate: hello")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}$"))
    page.reload()
    expect(page.get_by_test_id("preset-tag")).to_have_text("翻译助手")
    (body,) = [r["json"] for r in fake_provider.requests if (r["json"] or {}).get("stream")]
    assert body["messages"][0] == {"role": "system", "content": "Translate into English."}
    assert problems == []
