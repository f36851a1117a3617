"""The chat page in Debian's Chromium against the gunicorn live server and the fake provider."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from aihelper.extensions import db
from aihelper.models import ChatSession, User
from tests.fixtures.browser import add_conversation, collect_problems, last_answer, send
from tests.fixtures.chat_client import ChatUser

pytestmark = pytest.mark.browser


def test_a_message_streams_its_answer_and_it_stays_after_reload(chat_page, fake_provider):
    page = chat_page["page"]
    problems = collect_problems(page)
    fake_provider.script(tokens=["你好", "！", "我是", "**助手**", "。"], token_delay=0.05)
    page.get_by_test_id("model-select").locator(".el-select__wrapper").click()
    page.get_by_role("option", name=re.compile("Fake Model")).click()
    send(page, "介绍一下你自己")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("你好！我是助手。")
    expect(last_answer(page).locator("strong")).to_have_text("助手")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}$"))
    expect(page.locator(".session-item.active")).to_have_count(1)
    page.reload()
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("你好！我是助手。")
    expect(page.locator(".message-user .bubble")).to_have_text("介绍一下你自己")
    assert problems == []


def test_stop_keeps_the_partial_answer_marked_stopped(chat_page, fake_provider, app):
    page = chat_page["page"]
    fake_provider.script(tokens=["one ", "two ", "three ", "four"], stall_after=2)
    send(page, "count slowly")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("one two")
    page.get_by_test_id("stop").click()
    expect(last_answer(page).get_by_test_id("message-note")).to_contain_text("已停止生成")
    page.reload()
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("one two")
    expect(last_answer(page).get_by_test_id("message-note")).to_contain_text("已停止生成")
    fake_provider.script(reply="a complete answer")
    last_answer(page).get_by_test_id("retry").click()
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("a complete answer")
    expect(last_answer(page).get_by_test_id("message-note")).to_have_count(0)


def test_regenerate_and_edit_the_last_message(chat_page, fake_provider):
    page = chat_page["page"]
    send(page, "first try")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("Hello from the fake provider.")
    fake_provider.script(reply="second version")
    last_answer(page).hover()
    last_answer(page).get_by_test_id("regenerate").click()
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("second version")
    page.locator(".message-user").last.hover()
    page.locator(".message-user").last.get_by_test_id("edit-message").click()
    expect(page.get_by_test_id("composer")).to_have_value("first try")
    fake_provider.script(reply="answer to the edit")
    send(page, "edited question")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("answer to the edit")
    expect(page.locator(".message")).to_have_count(2)
    page.reload()
    expect(page.locator(".message-user .bubble")).to_have_text("edited question")


def test_a_reload_during_an_answer_shows_it_continuing(chat_page, fake_provider):
    page = chat_page["page"]
    tokens = [f"word{i} " for i in range(30)]
    fake_provider.script(tokens=tokens, token_delay=0.1)
    send(page, "a long story")
    expect(last_answer(page).locator(".assistant-bubble")).to_contain_text("word2")
    page.reload()
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("".join(tokens).strip(), timeout=15000)


def test_the_generated_title_arrives_in_the_sidebar_without_reloading_the_list(chat_page, fake_provider):
    page = chat_page["page"]
    list_loads = []
    page.on("request", lambda request: "/api/chat/history?limit" in request.url and list_loads.append(request.url))
    fake_provider.script(reply="A title from the model")  # the answer, and then the title
    send(page, "please think of a good title for this")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("A title from the model")
    entry = page.locator(".session-item.active .session-title")
    expect(entry).to_have_text("A title from the model")  # patched in place by the `title` frame
    expect(page.get_by_test_id("chat-title")).to_have_text("A title from the model")
    assert list_loads == [], "the conversation list was not fetched again for the new conversation"
    page.reload()
    expect(page.locator(".session-item .session-title").first).to_have_text("A title from the model")


def test_a_refused_resume_on_reconnect_is_not_taken_for_a_pending_message(chat_page, fake_provider):
    """The socket drops while an answer streams and the user sends another message meanwhile; on the
    reconnect the server refuses the resume (not_running, as after a restart) before it starts the
    new message. That refusal must not be taken for the new message's."""
    page = chat_page["page"]
    sockets = []
    refused = []

    def route(ws):
        server = ws.connect_to_server()
        sockets.append((ws, server))
        if len(sockets) == 1:
            return  # the first connection is passed through as it is
        # On the reconnect the page sends the waiting message and a resume (in either order). The
        # server's frames wait until both were sent; then the refusal of the resume goes first.
        held, seen = [], set()

        def release() -> None:
            if seen != {"chat", "resume"}:
                return
            ws.send(json.dumps({"type": "error", "code": "not_running", "error": "x", "session_id": refused[0]}))
            for message in held:
                ws.send(message)
            held.clear()
            seen.add("released")

        def from_server(message):
            if "released" in seen:
                ws.send(message)
            else:
                held.append(message)

        def from_page(message):
            frame = json.loads(message)
            kind = frame.get("type")
            if kind == "resume" and not refused:
                refused.append(frame["session_id"])
                seen.add("resume")
            else:
                server.send(message)
                if kind == "chat":
                    seen.add("chat")
            release()

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws/chat$"), route)
    page.reload()
    expect(page.get_by_test_id("model-select")).to_be_visible()
    fake_provider.script(tokens=[f"slow{i} " for i in range(40)], token_delay=0.1)
    send(page, "a long answer please")
    expect(last_answer(page).locator(".assistant-bubble")).to_contain_text("slow1")
    page_side, server_side = sockets[0]
    page_side.close()
    server_side.close()
    fake_provider.script(reply="the second answer")
    page.get_by_test_id("new-chat").click()
    send(page, "a second question while offline")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("the second answer", timeout=15000)
    expect(page.get_by_test_id("composer")).to_have_value("")
    expect(page.locator(".el-message--error")).to_have_count(0)
    expect(page.locator(".message-user .bubble")).to_have_text("a second question while offline")
    assert refused, "the resume was refused on the reconnect"


def test_an_answer_a_restart_cut_short_says_so_and_offers_continue(chat_page, fake_provider):
    """A stopping worker ends its sockets' running answers with `error` `server_restarting` and
    closes them with 1012: the page shows the answer as interrupted and reconnects."""
    page = chat_page["page"]
    routes, started = [], []

    def route(ws):
        server = ws.connect_to_server()
        routes.append((ws, server))

        def from_server(message):
            started.append(json.loads(message))
            ws.send(message)

        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws/chat$"), route)
    page.reload()
    expect(page.get_by_test_id("model-select")).to_be_visible()
    fake_provider.script(tokens=SLOW_PIECES, token_delay=0.25)
    send(page, "an answer a deploy cuts short")
    expect(last_answer(page).locator(".assistant-bubble")).to_contain_text("part1")
    start = next(frame for frame in started if frame["type"] == "start")
    page_side, server_side = routes[0]
    page_side.send(
        json.dumps(
            {
                "type": "error",
                "code": "server_restarting",
                "error": "已中断：服务器重启了。",
                "session_id": start["session_id"],
                "message_id": start["message_id"],
                "seq": 99,
            }
        )
    )
    page_side.close(code=1012)
    server_side.close()
    expect(last_answer(page).get_by_test_id("message-note")).to_contain_text("已中断")
    expect(last_answer(page).get_by_test_id("continue")).to_be_visible()
    expect(page.get_by_test_id("stop")).to_have_count(0)
    expect(page.get_by_test_id("connection")).to_have_text("已连接")  # reconnected
    assert len(routes) == 2


SLOW_PIECES = [f"part{i} " for i in range(12)]


@pytest.mark.browser_context_args(timezone_id="Asia/Shanghai")
def test_a_picked_date_range_includes_its_end_day_whole_in_the_browsers_time_zone(chat_page, app):
    page = chat_page["page"]
    # In Shanghai (UTC+8): 03-01 08:30, 03-31 23:30, 04-01 00:30 and 01-10.
    add_conversation(app, "page_user", "三月第一天", datetime(2026, 3, 1, 0, 30))
    add_conversation(app, "page_user", "三月最后一晚", datetime(2026, 3, 31, 15, 30))
    add_conversation(app, "page_user", "四月凌晨", datetime(2026, 3, 31, 16, 30))
    add_conversation(app, "page_user", "一月的对话", datetime(2026, 1, 10, 9, 0))
    page.reload()
    sessions = page.get_by_test_id("session-list")
    expect(sessions).to_contain_text("一月的对话")
    start, end = page.get_by_label("开始日期"), page.get_by_label("结束日期")
    start.click()
    start.fill("2026-03-01")
    end.fill("2026-03-31")
    end.press("Enter")
    expect(sessions).to_contain_text("三月最后一晚")
    expect(sessions).to_contain_text("三月第一天")
    expect(sessions).not_to_contain_text("四月凌晨")
    expect(sessions).not_to_contain_text("一月的对话")
    # The range text fits the sidebar.
    picker = page.locator(".range-picker").first
    assert picker.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    page.get_by_test_id("clear-filter").click()
    expect(sessions).to_contain_text("一月的对话")


def test_the_date_shortcuts_include_today_and_the_calendar_opens_on_this_month(chat_page, app, fake_provider):
    page = chat_page["page"]
    send(page, "今天的问题")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("Hello from the fake provider.")
    add_conversation(app, "page_user", "很久以前", datetime(2025, 1, 1, 9, 0))
    page.reload()
    sessions = page.get_by_test_id("session-list")
    expect(sessions).to_contain_text("很久以前")
    page.get_by_label("开始日期").click()
    today = datetime.now()
    expect(page.locator(".el-date-range-picker__header").first).to_contain_text(
        re.compile(rf"{today.year} 年\s*{today.month} 月")
    )
    page.get_by_role("button", name="今天").click()
    expect(sessions.locator(".session-item")).to_have_count(1)
    expect(sessions).not_to_contain_text("很久以前")
    page.get_by_label("开始日期").click()
    page.get_by_role("button", name="最近 30 天").click()
    expect(sessions.locator(".session-item")).to_have_count(1)
    expect(sessions).not_to_contain_text("很久以前")


def test_rename_and_delete_from_the_conversation_menu(chat_page, app):
    page = chat_page["page"]
    send(page, "to be renamed")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("Hello from the fake provider.")
    item = page.locator(".session-item").first
    item.get_by_test_id("session-menu").click()
    page.get_by_test_id("session-rename").last.click()
    page.locator(".el-message-box input").fill("重命名后的标题")
    page.locator(".el-message-box").get_by_role("button", name="保存").click()
    expect(page.locator(".session-item").first).to_contain_text("重命名后的标题")
    expect(page.get_by_test_id("chat-title")).to_have_text("重命名后的标题")
    page.locator(".session-item").first.get_by_test_id("session-menu").click()
    page.get_by_test_id("session-delete").last.click()
    page.locator(".el-message-box").get_by_role("button", name="删除").click()
    expect(page.locator(".session-item")).to_have_count(0)
    with app.app_context():
        assert db.session.scalar(select(ChatSession)) is None


def test_another_users_conversation_shows_not_found(chat_page, live_server):
    other = ChatUser.register(live_server.url, "someone_else")
    socket = other.socket()
    private = socket.chat("my secret", "fake-model")[0]["session_id"]
    socket.close()
    page = chat_page["page"]
    page.goto(f"{live_server.url}/c/{private}")
    expect(page.get_by_test_id("not-found")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("my secret")


def test_avatar_upload_shows_the_new_picture(chat_page, tmp_path):
    page = chat_page["page"]
    picture = tmp_path / "me.png"
    Image.new("RGB", (120, 80), (30, 160, 90)).save(picture)
    page.get_by_test_id("avatar-input").set_input_files(str(picture))
    expect(page.get_by_text("头像已更新")).to_be_visible()
    avatar = page.get_by_test_id("user-avatar").locator("img")
    expect(avatar).to_have_attribute("src", re.compile(r"^/avatars/[0-9a-f]{32}\.webp$"))
    loaded = avatar.evaluate("img => img.complete && img.naturalWidth")
    assert loaded == 256


def test_language_and_theme_switches(chat_page):
    page = chat_page["page"]
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-theme").click()
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    page.reload()
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-language").click()
    expect(page.get_by_test_id("new-chat")).to_have_text("New chat")
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-theme").click()
    expect(page.locator("html")).not_to_have_class(re.compile(r"\bdark\b"))


def test_a_phone_sized_screen_uses_a_drawer(chat_page, fake_provider):
    page = chat_page["page"]
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_test_id("session-list")).to_have_count(0)
    send(page, "from my phone")
    expect(last_answer(page).locator(".assistant-bubble")).to_have_text("Hello from the fake provider.")
    page.get_by_test_id("open-drawer").click()
    expect(page.get_by_test_id("session-list").locator(".session-item")).to_have_count(1)
    page.get_by_test_id("new-chat").click()
    expect(page.get_by_text("今天想聊点什么？")).to_be_visible()


HOSTILE = (
    "<img src=x onerror=\"window.__pwned='img'\"> <script>window.__pwned='script'</script> "
    "<svg onload=\"window.__pwned='svg'\"></svg> [click me](javascript:window.__pwned='link') "
    "<iframe srcdoc=\"<script>parent.__pwned='iframe'</script>\"></iframe> {{7*7}}"
)


def test_hostile_text_from_every_source_stays_inert(chat_page, fake_provider, app, live_server):
    page = chat_page["page"]
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    # A hostile model display name, answer, conversation title and username.
    chat_page["admin"].http.put(
        f"{live_server.url}/api/admin/models/{chat_page['model']['id']}",
        json={"model_name": "<img src=x onerror=alert(1)>{{7*7}}"},
    )
    with app.app_context():
        db.session.execute(db.update(User).where(User.username == "page_user").values(username="{{7*7}}<b>x</b>"))
        db.session.commit()
    fake_provider.script(reply=HOSTILE)
    page.add_init_script("window.__pwned = undefined")
    page.reload()
    send(page, HOSTILE)
    expect(last_answer(page).locator(".assistant-bubble")).to_contain_text("{{7*7}}")
    session_id = page.url.rsplit("/", 1)[-1]
    hostile_title = "<img src=x onerror=\"window.__pwned='title'\">{{7*7}}"
    renamed = chat_page["user"].http.put(
        f"{live_server.url}/api/chat/session/{session_id}", json={"title": hostile_title}
    )
    assert renamed.status_code == 200
    page.reload()
    expect(page.get_by_test_id("chat-title")).to_contain_text("{{7*7}}")
    page.get_by_test_id("model-select").locator(".el-select__wrapper").click()
    expect(page.get_by_role("option").first).to_contain_text("{{7*7}}")
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)

    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    body = page.locator("body").inner_text()
    assert "49" not in body
    assert page.locator(".message-user .bubble").first.inner_text().startswith("<img src=x")
    answer = last_answer(page).locator(".assistant-bubble")
    assert answer.locator("script, iframe, svg, [onerror], [onload]").count() == 0
    assert answer.locator("a[href^='javascript']").count() == 0
    expect(page.get_by_test_id("user-menu")).to_contain_text("{{7*7}}<b>x</b>")


def test_screenshots_of_the_main_page_for_the_readme(chat_page, fake_provider, screenshot_dir):
    page = chat_page["page"]
    fake_provider.script(
        reply='当然可以！下面是一个 Python 例子：\n\n```python\ndef greet(name):\n    return f"你好，{name}"\n```\n\n'
        "| 模型 | 用途 |\n|---|---|\n| GLM-4.5 | 通用对话 |\n| Qwen3 | 代码与推理 |\n",
        reasoning="用户想要一个简单的例子。",
    )
    send(page, "写一个打招呼的函数")
    expect(last_answer(page).locator(".code-block")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "chat-light.png"))
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-theme").click()
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshot_dir / "chat-dark.png"))
    assert (screenshot_dir / "chat-light.png").stat().st_size > 10_000
