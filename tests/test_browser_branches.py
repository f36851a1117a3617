"""Branches on the chat page (Chromium): regenerating an earlier answer or editing an earlier
question shows the new version as "2/2", the arrows switch between versions, the choice
survives a reload, and the next message continues the branch shown."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.fixtures.browser import last_answer, send


def answer_says(page, text: str) -> None:
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text(text)


def bubbles(page):
    return page.locator(".message .bubble")


def test_versions_of_an_earlier_answer_and_question_are_switched_with_arrows(chat_page, fake_provider):
    page = chat_page["page"]
    fake_provider.script(reply="a1")
    send(page, "q1")
    answer_says(page, "a1")
    fake_provider.script(reply="a2")
    send(page, "q2")
    answer_says(page, "a2")

    first_answer = page.locator(".message-assistant").first
    first_answer.hover()
    fake_provider.script(reply="a1, again")
    first_answer.get_by_test_id("regenerate").click()
    answer_says(page, "a1, again")
    expect(bubbles(page)).to_have_text(["q1", "a1, again"])
    switch = last_answer(page).get_by_test_id("branch-switch")
    expect(switch.get_by_test_id("branch-position")).to_have_text("2/2")
    expect(switch.get_by_test_id("branch-next")).to_be_disabled()

    switch.get_by_test_id("branch-prev").click()
    expect(bubbles(page)).to_have_text(["q1", "a1", "q2", "a2"])
    expect(page.locator(".message-assistant").first.get_by_test_id("branch-position")).to_have_text("1/2")
    page.reload()
    expect(bubbles(page)).to_have_text(["q1", "a1", "q2", "a2"])

    fake_provider.script(reply="a3")
    send(page, "q3")
    answer_says(page, "a3")
    sent = [r["json"] for r in fake_provider.requests if (r["json"] or {}).get("stream")][-1]["messages"]
    assert [m["content"] for m in sent if m["role"] != "system"] == ["q1", "a1", "q2", "a2", "q3"]

    question = page.locator(".message-user").first
    question.hover()
    question.get_by_test_id("edit-message").click()
    expect(page.get_by_test_id("composer")).to_have_value("q1")
    fake_provider.script(reply="answer to the edit")
    send(page, "q1, edited")
    answer_says(page, "answer to the edit")
    expect(bubbles(page)).to_have_text(["q1, edited", "answer to the edit"])
    expect(page.locator(".message-user").first.get_by_test_id("branch-position")).to_have_text("2/2")
    page.locator(".message-user").first.get_by_test_id("branch-prev").click()
    expect(bubbles(page)).to_have_text(["q1", "a1", "q2", "a2", "q3", "a3"])
