"""In Debian's Chromium against the gunicorn live server: register, log in, log out, language."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.fixtures.actions import PASSWORD
from tests.fixtures.browser import collect_problems, fill_credentials, register_in_browser

pytestmark = pytest.mark.browser


def test_register_lands_logged_in_on_the_chat_page(page: Page, live_server):
    problems = collect_problems(page)
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_role("link", name="立即注册").click()
    expect(page).to_have_url(re.compile(r"/register"))
    register_in_browser(page, live_server.url, "浏览器用户")
    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_test_id("user-menu")).to_contain_text("浏览器用户")
    expect(page.get_by_text("今天想聊点什么？")).to_be_visible()
    assert problems == []


def test_the_register_form_checks_rules_before_sending(page: Page, live_server):
    page.goto(live_server.url + "/register")
    fill_credentials(page, "ab", "short")
    page.get_by_role("button", name="注册").click()
    expect(page.get_by_text("用户名长度须为 3–50 个字符")).to_be_visible()
    expect(page.get_by_text("密码长度须为 8–128 个字符")).to_be_visible()
    expect(page).to_have_url(live_server.url + "/register")


def test_a_wrong_password_shows_an_error(page: Page, live_server):
    # The account exists (registered elsewhere); this browser has never logged in.
    registered = requests.post(
        live_server.url + "/api/register", json={"username": "wrongpw", "password": PASSWORD}, timeout=10
    )
    assert registered.status_code == 201
    page.goto(live_server.url + "/login")
    fill_credentials(page, "wrongpw", "definitely-wrong")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")
    expect(page.locator("input[name=username]")).to_have_value("wrongpw")
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_logout_returns_to_login_and_login_works_again(page: Page, live_server):
    register_in_browser(page, live_server.url, "roundtrip")
    expect(page).to_have_url(live_server.url + "/")
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    fill_credentials(page, "roundtrip", PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_test_id("user-menu")).to_contain_text("roundtrip")


def test_switching_to_english_translates_the_page_and_is_remembered(page: Page, live_server):
    page.goto(live_server.url + "/login")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    page.get_by_role("button", name="语言").click()
    page.get_by_role("menuitem", name="English").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.goto(live_server.url + "/register")
    expect(page.get_by_role("button", name="Register")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_a_hostile_username_is_shown_as_text(page: Page, live_server):
    problems = collect_problems(page)
    page.add_init_script("window.__pwned = false")
    name = "{{7*7}}"
    page.goto(live_server.url + "/login")
    fill_credentials(page, name, PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")
    expect(page.locator("input[name=username]")).to_have_value(name)
    assert page.evaluate("window.__pwned") is False
    assert "49" not in page.locator("#app").inner_text()
    assert problems == []


def test_the_login_form_checks_fields_when_sent_not_when_focus_leaves(page: Page, live_server):
    page.goto(live_server.url + "/login")
    expect(page.locator("input[name=username]")).to_be_focused()
    page.get_by_role("button", name="语言").click()  # focus leaves the empty name field
    expect(page.get_by_role("menuitem", name="English")).to_be_visible()
    expect(page.get_by_text("请输入用户名")).to_have_count(0)
    page.keyboard.press("Escape")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_text("请输入用户名")).to_be_visible()
    expect(page.get_by_text("请输入密码")).to_be_visible()
    # Once a send was refused, a field is checked again as it changes.
    page.locator("input[name=username]").fill("someone")
    expect(page.get_by_text("请输入用户名")).to_have_count(0)
    expect(page.get_by_text("请输入密码")).to_be_visible()
    expect(page).to_have_url(live_server.url + "/login")


def close_registration(base_url: str) -> requests.Session:
    admin = requests.Session()
    assert admin.post(base_url + "/api/register", json={"username": "the_admin", "password": PASSWORD}, timeout=10).ok
    closed = admin.put(base_url + "/api/admin/settings", json={"registration_open": False}, timeout=10)
    assert closed.json()["registration_open"] is False
    return admin


def test_with_registration_closed_no_page_offers_it_and_a_refusal_is_said_once(page: Page, live_server):
    problems = collect_problems(page)
    base = live_server.url
    page.goto(base + "/register")  # still open: the form is there
    fill_credentials(page, "latecomer", PASSWORD)
    page.locator("input[autocomplete=new-password]").last.fill(PASSWORD)
    close_registration(base)
    page.get_by_role("button", name="注册").click()  # sent after registration closed
    notice = page.get_by_test_id("registration-closed")
    expect(notice).to_contain_text("注册已关闭")
    expect(page.get_by_role("alert")).to_have_count(1)
    expect(page.get_by_text("管理员已关闭注册")).to_have_count(0)  # the server's words are not said again
    expect(page.locator("form")).to_have_count(0)
    expect(page.locator("input[name=password]")).to_have_count(0)
    expect(page.get_by_role("link", name="去登录")).to_be_visible()

    page.goto(base + "/register")
    expect(notice).to_be_visible()
    expect(page.locator("input")).to_have_count(0)
    page.goto(base + "/login")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    expect(page.get_by_role("link", name="立即注册")).to_have_count(0)
    expect(page.get_by_text("还没有账号")).to_have_count(0)
    assert [p for p in problems if "/register" not in p] == []


def test_a_fresh_install_says_the_first_account_becomes_the_admin(page: Page, live_server):
    base = live_server.url
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    first = page.get_by_test_id("first-account")
    expect(first).to_contain_text("第一个注册的账号将成为管理员")
    first.get_by_role("link", name="创建第一个账号").click()
    expect(page).to_have_url(re.compile(r"/register"))
    expect(first).to_contain_text("这个账号将成为管理员")
    fill_credentials(page, "founder", PASSWORD)
    page.locator("input[autocomplete=new-password]").last.fill(PASSWORD)
    page.get_by_role("button", name="注册").click()
    expect(page.get_by_test_id("user-menu")).to_be_visible()

    # Someone else, in a browser of their own (a response still on its way to the founder's page
    # would set a cleared cookie again).
    elsewhere = page.context.browser.new_context(locale="zh-CN")
    visitor = elsewhere.new_page()
    for path in ("/login", "/register"):
        visitor.goto(base + path)
        expect(visitor.locator("input[name=username]")).to_be_visible()
        expect(visitor.get_by_test_id("first-account")).to_have_count(0)
    elsewhere.close()
