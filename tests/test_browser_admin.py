"""The admin's whole path in the browser: connect a provider, test it, import two models, order
them — and an ordinary user then sees exactly those models, in that order."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.helpers import PASSWORD
from tests.test_browser_auth import collect_problems, register_in_browser

pytestmark = pytest.mark.browser


def test_admin_connects_a_provider_and_users_see_its_models(page: Page, live_server, fake_provider):
    fake_provider.models = ["glm-4.5", "glm-4.5-air", "embedding-3"]
    fake_provider.expected_key = "sk-browser-admin-000000000042"
    problems = collect_problems(page)
    base = live_server.url

    register_in_browser(page, base, "admin_zoe")
    expect(page).to_have_url(base + "/")
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("admin-link").click()
    expect(page).to_have_url(base + "/admin")
    page.get_by_test_id("nav-providers").click()
    expect(page).to_have_url(base + "/admin/providers")

    page.get_by_test_id("add-provider").click()
    page.get_by_test_id("provider-name").fill("智谱 GLM")
    page.get_by_test_id("provider-url").fill(fake_provider.base_url)
    page.get_by_test_id("provider-key").fill("sk-browser-admin-000000000042")
    page.get_by_test_id("save-provider").click()
    expect(page.get_by_test_id("providers-table")).to_contain_text("智谱 GLM")
    expect(page.get_by_test_id("providers-table")).to_contain_text("sk-…0042")

    page.get_by_test_id("test-provider").click()
    result = page.get_by_test_id("health-result")
    expect(result).to_contain_text("可连接")
    expect(result).to_contain_text("HTTP 200")
    expect(page.get_by_test_id("providers-table")).to_contain_text("模型数 3")

    page.get_by_test_id("import-models").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("glm-4.5-air")).to_be_visible()
    dialog.get_by_text("glm-4.5", exact=True).click()
    dialog.get_by_text("glm-4.5-air").click()
    page.get_by_test_id("run-import").click()
    expect(page.get_by_text("已导入 2 个模型")).to_be_visible()

    page.get_by_test_id("nav-models").click()
    expect(page).to_have_url(base + "/admin/models")
    rows = page.locator("[data-model-id]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-model-id", "glm-4.5")
    rows.first.get_by_test_id("move-down").click()
    expect(page.get_by_text("顺序已保存")).to_be_visible()
    page.reload()
    expect(page.locator("[data-model-id]").first).to_have_attribute("data-model-id", "glm-4.5-air")
    assert problems == []

    user = requests.Session()
    assert user.post(base + "/api/register", json={"username": "plain_user", "password": PASSWORD}, timeout=10).ok
    seen = user.get(base + "/api/models", timeout=10).json()
    assert seen["models"] == ["glm-4.5-air", "glm-4.5"]
    assert [m["model_id"] for m in seen["providers"]["智谱 GLM"]] == ["glm-4.5-air", "glm-4.5"]
    assert "sk-browser-admin-000000000042" not in str(seen) and fake_provider.base_url not in str(seen)


def test_an_ordinary_user_has_no_admin_link_and_gets_403(page: Page, live_server):
    requests.post(live_server.url + "/api/register", json={"username": "the_admin", "password": PASSWORD}, timeout=10)
    register_in_browser(page, live_server.url, "not_admin")
    expect(page).to_have_url(live_server.url + "/")
    page.get_by_test_id("user-menu").click()
    expect(page.get_by_test_id("logout")).to_be_visible()
    expect(page.get_by_test_id("admin-link")).to_have_count(0)
    response = page.goto(live_server.url + "/admin")
    assert response.status == 403
    expect(page.locator("body")).to_contain_text(re.compile("没有权限"))
