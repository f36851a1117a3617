"""The sidebar's history tools in Chromium: search with highlighted snippets, pin, export one and
everything, import (twice: nothing added), delete several at once, and the retention note."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.__xss=1"> {{7*7}}'


def conversation(title: str, *contents: str) -> dict:
    return {
        "session_id": "source-" + title,
        "title": title,
        "messages": [
            {
                "role": "user" if i % 2 == 0 else "assistant",
                "content": c,
                "timestamp": (datetime(2026, 5, 1, 8) + timedelta(minutes=i)).isoformat(),
            }
            for i, c in enumerate(contents)
        ],
    }


@pytest.fixture
def history_page(chat_page):
    document = {
        "format": "aihelper-conversations",
        "conversations": [
            conversation("数据库调优", "怎样给数据库加索引？", "先看慢查询日志。"),
            conversation("周末旅行", "Plan a weekend in Hangzhou", "West Lake at sunrise. " + HOSTILE),
            conversation("第三个", "随便聊聊"),
        ],
    }
    response = chat_page["user"].http.post(chat_page["url"] + "/api/chat/import", json=document)
    assert response.status_code == 200, response.text
    page = chat_page["page"]
    page.reload()
    expect(page.locator(".session-item")).to_have_count(3)
    return chat_page


def test_search_highlights_matches_and_opens_the_conversation(history_page, screenshot_dir):
    page = history_page["page"]
    page.evaluate("window.__xss = undefined")
    page.get_by_test_id("search-input").fill("数据库")
    hits = page.get_by_test_id("search-hit")
    expect(hits).to_have_count(2)  # the title and the question
    expect(hits.locator("mark").first).to_have_text("数据库")
    hits.nth(0).click()
    expect(page.get_by_test_id("chat-title")).to_have_text("数据库调优")
    page.screenshot(path=str(screenshot_dir / "chat-search.png"))
    expect(page.locator(".message-user").first).to_contain_text("怎样给数据库加索引？")

    page.get_by_test_id("search-input").fill("sunrise")
    expect(hits).to_have_count(1)
    expect(hits.first).to_contain_text("<img src=x")  # shown as text, inert
    expect(hits.first).to_contain_text("{{7*7}}")
    assert page.evaluate("window.__xss") is None

    page.get_by_test_id("search-input").fill("没有这个词")
    expect(page.get_by_test_id("no-results")).to_be_visible()
    page.get_by_test_id("search-input").fill("")
    expect(page.locator(".session-item")).to_have_count(3)


def test_more_search_results_load_on_demand(history_page):
    page = history_page["page"]
    document = {
        "format": "aihelper-conversations",
        "conversations": [conversation(f"很多 {i}", f"反复出现的话题 {i}") for i in range(40)],
    }
    for minute, item in enumerate(document["conversations"]):  # one moment each: results page by time
        item["messages"][0]["timestamp"] = f"2026-05-02T09:{minute:02d}:00"
    history_page["user"].http.post(history_page["url"] + "/api/chat/import", json=document)
    page.get_by_test_id("search-input").fill("话题")
    groups = page.get_by_test_id("search-group")
    expect(groups).to_have_count(30)
    page.get_by_test_id("search-more").click()
    expect(groups).to_have_count(40)
    expect(page.get_by_test_id("search-more")).to_have_count(0)


def test_results_are_grouped_per_conversation_and_a_hit_opens_at_its_message(history_page):
    page = history_page["page"]
    filler = [f"无关的第 {i} 条消息，" + "内容 " * 40 for i in range(120)]
    document = {
        "format": "aihelper-conversations",
        "conversations": [
            conversation("长对话", "第一次提到银杏", *filler[:60], "第二次提到银杏", *filler[60:], "第三次提到银杏")
        ],
    }
    assert history_page["user"].http.post(history_page["url"] + "/api/chat/import", json=document).ok
    page.get_by_test_id("search-input").fill("银杏")
    groups = page.get_by_test_id("search-group")
    expect(groups).to_have_count(1)
    expect(groups.first.get_by_test_id("search-group-title")).to_have_text("长对话")
    hits = groups.first.get_by_test_id("search-hit")
    expect(hits).to_have_count(3)
    # The oldest mention sits beyond the first page of the conversation: it is fetched, shown and marked.
    hits.filter(has_text="第一次提到银杏").click()
    found = page.locator(".message.highlighted")
    expect(found).to_have_count(1)
    expect(found).to_contain_text("第一次提到银杏")
    expect(found).to_be_in_viewport()


def test_pin_moves_a_conversation_to_the_top(history_page):
    page = history_page["page"]
    last = page.locator(".session-item").last
    title = last.locator(".session-title").inner_text()
    last.get_by_test_id("session-menu").click()
    page.locator("[data-testid=session-pin]:visible").click()
    first = page.locator(".session-item").first
    expect(first).to_contain_text(title)
    expect(first.get_by_test_id("pin-mark")).to_be_visible()
    expect(page.locator(".session-group-title").first).to_have_text("已置顶")


def test_export_one_and_everything_then_import_adds_nothing_twice(history_page, tmp_path):
    page = history_page["page"]
    item = page.locator(".session-item", has_text="数据库调优")
    item.get_by_test_id("session-menu").click()
    with page.expect_download() as markdown:
        page.locator("[data-testid=session-export-md]:visible").click()
    text = markdown.value.path().read_text(encoding="utf-8")
    assert text.startswith("# 数据库调优") and "怎样给数据库加索引？" in text

    with page.expect_download() as everything:
        page.get_by_test_id("export-all").click()
    exported = tmp_path / everything.value.suggested_filename
    everything.value.save_as(exported)
    assert exported.name.startswith("aihelper-export-")
    assert len(json.loads(exported.read_text(encoding="utf-8"))["conversations"]) == 3

    page.get_by_test_id("import-input").set_input_files(str(exported))
    expect(page.locator(".el-message--success").last).to_contain_text("已导入 0 个对话（3 个已存在，已跳过）")
    expect(page.locator(".session-item")).to_have_count(3)


def test_delete_several_at_once(history_page):
    page = history_page["page"]
    page.get_by_test_id("select-mode").click()
    checks = page.get_by_test_id("session-check")
    checks.nth(0).click()
    checks.nth(1).click()
    expect(page.get_by_test_id("select-bar")).to_contain_text("已选 2 个")
    page.get_by_test_id("delete-selected").click()
    page.locator(".el-message-box").get_by_role("button", name="删除").click()
    expect(page.locator(".session-item")).to_have_count(1)
    page.reload()
    expect(page.locator(".session-item")).to_have_count(1)


def test_users_see_the_retention_note(history_page):
    page = history_page["page"]
    expect(page.get_by_test_id("retention-note")).to_have_count(0)
    history_page["admin"].http.put(history_page["url"] + "/api/admin/settings", json={"retention_days": 30})
    page.reload()
    expect(page.get_by_test_id("retention-note")).to_contain_text("保留 30 天")


def test_a_long_conversation_opens_at_its_newest_messages_and_earlier_ones_load_on_scrolling_up(chat_page):
    long_one = conversation("很长的对话")
    long_one["messages"] = [
        {
            "role": "user" if n % 2 == 0 else "assistant",
            "content": f"第 {n} 条消息 message {n}",
            "timestamp": f"2026-05-01T{8 + n // 60:02d}:{n % 60:02d}:00",
        }
        for n in range(130)
    ]
    document = {"format": "aihelper-conversations", "conversations": [long_one]}
    assert chat_page["user"].http.post(chat_page["url"] + "/api/chat/import", json=document).status_code == 200
    page = chat_page["page"]
    page.reload()
    page.locator(".session-item").first.click()
    messages = page.locator(".message")
    expect(messages).to_have_count(50)
    expect(messages.last).to_contain_text("message 129")
    expect(page.get_by_test_id("older-messages")).to_be_visible()

    oldest_shown = messages.first
    expect(oldest_shown).to_contain_text("message 80")
    page.get_by_test_id("messages").evaluate("el => { el.scrollTop = 0; }")
    expect(messages).to_have_count(100)
    # What was on top stays where it was: the earlier messages went above it.
    assert page.get_by_test_id("messages").evaluate("el => el.scrollTop") > 0
    expect(messages.nth(50)).to_contain_text("message 80")

    page.get_by_test_id("messages").evaluate("el => { el.scrollTop = 0; }")
    expect(messages).to_have_count(130)
    expect(messages.first).to_contain_text("message 0")
    expect(page.get_by_test_id("older-messages")).to_have_count(0)
