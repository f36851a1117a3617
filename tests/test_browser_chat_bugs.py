"""The chat page's bugs a new user hit, each written as the behaviour that replaced it, in Chromium
against the gunicorn live server and the fake provider."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from aihelper.extensions import db
from aihelper.models import ChatMessage, ChatSession, User
from aihelper.times import utcnow
from tests.fixtures.browser import add_conversation, last_answer, send, sign_in_as
from tests.fixtures.chat_client import ChatUser

pytestmark = pytest.mark.browser

SLOW_TOKENS = [f"piece{i} " for i in range(12)]


def test_returning_to_a_conversation_whose_answer_runs_shows_it_live_and_unblocked(chat_page, fake_provider):
    page = chat_page["page"]
    send(page, "the first conversation")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("Hello from the fake provider.")
    page.get_by_test_id("new-chat").click()
    fake_provider.script(tokens=SLOW_TOKENS, token_delay=0.25)
    send(page, "the second conversation")
    expect(last_answer(page).locator(".assistant-bubble")).to_contain_text("piece1")
    running = page.url

    page.locator(".session-item", has_text="Hello from the fake provider.").get_by_test_id("session-link").click()
    expect(page.locator(".message-user .bubble")).to_have_text("the first conversation")
    page.locator(f'[data-session-id="{running.rsplit("/", 1)[1]}"]').get_by_test_id("session-link").click()

    answer = last_answer(page).locator(".assistant-bubble")
    expect(answer).to_contain_text("piece3")  # the text so far, still growing
    expect(answer).to_have_text("".join(SLOW_TOKENS).strip(), timeout=10_000)
    expect(page.get_by_test_id("stop")).to_have_count(0)
    fake_provider.script(reply="and it goes on")
    send(page, "one more")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("and it goes on")


def test_a_reopened_answer_shows_its_models_name_and_the_reason_it_failed(chat_page, fake_provider):
    page = chat_page["page"]
    fake_provider.script(status=401)
    send(page, "will the key work?")
    note = last_answer(page).get_by_test_id("message-note")
    expect(note).to_contain_text("请联系管理员")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_count(0)  # no empty bubble above the reason
    page.reload()
    expect(last_answer(page).get_by_test_id("message-note")).to_contain_text("请联系管理员")
    expect(last_answer(page).get_by_test_id("message-author")).to_have_text("Fake Model")


def test_the_header_and_the_tab_follow_the_generated_title(chat_page, fake_provider):
    page = chat_page["page"]
    fake_provider.script(reply="Python 打印语句的解释")
    send(page, "```python\nprint('a fairly long line of code')\n``` 这段代码是什么意思？")
    expect(page.get_by_test_id("chat-title")).to_have_text("Python 打印语句的解释")
    expect(page.locator(".session-item.active")).to_contain_text("Python 打印语句的解释")
    expect(page).to_have_title("Python 打印语句的解释 · AI助手")
    page.get_by_test_id("new-chat").click()
    expect(page).to_have_title("AI助手")


def test_an_answer_the_server_no_longer_runs_is_shown_once_as_interrupted(chat_page, app):
    """A restart mid-answer leaves its row "streaming" with nothing generating it: the page asks
    to resume once, is told it is not running, shows what was stored and asks no more."""
    page = chat_page["page"]
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.username == "page_user"))
        now = utcnow()
        db.session.add(
            ChatSession(session_id="orphan", user_id=user_id, title="重启前", create_time=now, update_time=now)
        )
        db.session.add(ChatMessage(session_id="orphan", user_id=user_id, role="user", content="q", timestamp=now))
        db.session.add(
            ChatMessage(
                session_id="orphan",
                user_id=user_id,
                role="assistant",
                content="half an",
                status="streaming",
                timestamp=now,
                model_id="fake-model",
            )
        )
        db.session.commit()
    resumes: list[dict] = []
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framesent", lambda payload: '"resume"' in str(payload) and resumes.append(json.loads(payload))
        ),
    )
    page.goto(chat_page["url"] + "/c/orphan")
    expect(last_answer(page).get_by_test_id("message-note")).to_contain_text("已中断")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("half an")
    expect(last_answer(page).get_by_test_id("continue")).to_be_visible()
    expect(page.get_by_test_id("stop")).to_have_count(0)
    # A turn round trip later, the page has still asked only once.
    send(page, "still there?")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("Hello from the fake provider.")
    assert [frame["session_id"] for frame in resumes] == ["orphan"]


def test_the_caret_follows_the_last_word_and_a_silent_model_is_said_to_be_awaited(chat_page, fake_provider):
    page = chat_page["page"]
    fake_provider.script(tokens=["第一段文字"], stall_after=1)
    page.evaluate("window.AIHelperChat.timing.waitingNoteMs = 300")  # within the test's 2 s between tokens
    send(page, "write slowly")
    bubble = last_answer(page).locator(".assistant-bubble")
    expect(bubble).to_have_text("第一段文字")
    caret_on_paragraph = bubble.locator("p").last.evaluate("p => getComputedStyle(p, '::after').content")
    caret_on_bubble = bubble.evaluate("b => getComputedStyle(b, '::after').content")
    assert (caret_on_paragraph, caret_on_bubble) == ('""', "none")
    expect(last_answer(page).get_by_test_id("waiting-note")).to_have_text("仍在等待模型回复…")
    page.keyboard.press("Escape")  # Esc stops a running answer
    expect(last_answer(page).get_by_test_id("message-note")).to_contain_text("已停止生成")
    expect(last_answer(page).get_by_test_id("waiting-note")).to_have_count(0)


def test_an_answer_shows_its_usage_and_speed(chat_page, fake_provider):
    page = chat_page["page"]
    fake_provider.script(tokens=["one ", "two ", "three"], token_delay=0.05)
    send(page, "count")
    usage = last_answer(page).get_by_test_id("message-usage")
    expect(usage).to_contain_text("tokens")
    expect(usage).to_contain_text("tokens/秒")
    page.reload()
    expect(last_answer(page).get_by_test_id("message-usage")).to_contain_text("tokens/秒")


def test_scrolled_up_during_an_answer_a_button_brings_the_newest_text_back(chat_page, fake_provider):
    page = chat_page["page"]
    fake_provider.script(tokens=[f"line {i}\n\n" for i in range(80)], token_delay=0.05)
    send(page, "a long one")
    expect(last_answer(page).locator(".assistant-bubble")).to_contain_text("line 30")
    page.get_by_test_id("messages").evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
    page.get_by_test_id("to-bottom").click()
    messages = page.get_by_test_id("messages")
    expect(page.get_by_test_id("to-bottom")).to_have_count(0)
    assert messages.evaluate("el => el.scrollTop + el.clientHeight >= el.scrollHeight - 80")


def test_the_welcome_screen_offers_prompts_and_the_shortcuts_are_listed(chat_page):
    page = chat_page["page"]
    page.get_by_test_id("suggestion").first.click()
    expect(page.get_by_test_id("composer")).to_have_value("用三句话解释什么是大语言模型")
    page.keyboard.press("?")  # typed into the composer, where it is text
    expect(page.get_by_test_id("composer")).to_have_value("用三句话解释什么是大语言模型?")
    page.get_by_test_id("new-chat").focus()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="键盘快捷键")).to_be_visible()
    expect(page.get_by_role("dialog", name="键盘快捷键")).to_contain_text("Esc")


def test_conversations_are_reached_with_tab_and_opened_with_enter(chat_page, app):
    page = chat_page["page"]
    for title in ("第一个", "第二个"):
        add_conversation(app, "page_user", title, datetime(2026, 5, 1, 9, 0))
    page.reload()
    first = page.locator('[data-session-id="第一个"]').get_by_test_id("session-link")
    expect(first).to_be_visible()
    page.get_by_test_id("search-input").focus()
    focused_rows = []
    for _ in range(8):
        page.keyboard.press("Tab")
        focused_rows.append(
            page.evaluate("document.activeElement.closest('[data-session-id]')?.dataset.sessionId || ''")
        )
        if focused_rows[-1] == "第一个":
            break
    # Each row is one Tab stop: its "⋯" menu is not another.
    assert [row for row in focused_rows if row] in (["第一个"], ["第二个", "第一个"])
    page.keyboard.press("Shift+F10")  # the row's menu, from the keyboard
    expect(page.locator("[data-testid=session-rename]:visible")).to_have_count(1)
    page.keyboard.press("Escape")
    page.keyboard.press("F2")
    expect(page.locator(".el-message-box input")).to_have_value("第一个")
    page.locator(".el-message-box").get_by_role("button", name="取消").click()
    first.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("chat-title")).to_have_text("第一个")
    expect(page.locator(".message-user .bubble")).to_have_text("第一个")


def test_a_user_disabled_mid_answer_lands_on_the_login_page_told_why(chat_page, fake_provider):
    page = chat_page["page"]
    fake_provider.script(tokens=SLOW_TOKENS, token_delay=0.25)
    send(page, "a long answer, please")
    expect(last_answer(page).locator(".assistant-bubble")).to_contain_text("piece1")
    admin, user = chat_page["admin"], chat_page["user"]
    user_id = user.http.get(user.base_url + "/api/user/info").json()["id"]
    assert admin.http.put(f"{admin.base_url}/api/admin/users/{user_id}", json={"status": "disabled"}).ok
    expect(page).to_have_url(chat_page["url"] + "/login?ended=1")
    expect(page.get_by_test_id("login-notice")).to_contain_text("账号已被管理员停用")
    expect(page.get_by_test_id("login-notice")).to_be_visible()


@pytest.mark.browser_context_args(has_touch=True, is_mobile=True, viewport={"width": 390, "height": 844})
def test_on_a_touch_screen_the_message_actions_need_no_hover(chat_page):
    page = chat_page["page"]
    send(page, "on a phone")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("Hello from the fake provider.")
    actions = last_answer(page).locator(".message-actions")
    assert actions.evaluate("el => getComputedStyle(el).opacity") == "1"
    last_answer(page).get_by_test_id("regenerate").tap()
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("Hello from the fake provider.")


def test_without_models_the_welcome_tells_each_reader_what_to_do(page: Page, live_server):
    admin = ChatUser.register(live_server.url, "lonely_admin")
    user = ChatUser.register(live_server.url, "lonely_user")
    for who, says in ((admin, "你还没有添加模型"), (user, "请联系管理员")):
        sign_in_as(page, live_server.url, who.cookie)
        page.goto(live_server.url + "/")
        expect(page.get_by_test_id("no-models")).to_contain_text(says)
    sign_in_as(page, live_server.url, admin.cookie)
    page.goto(live_server.url + "/")
    page.get_by_test_id("go-admin").click()
    expect(page).to_have_url(live_server.url + "/admin/providers")
