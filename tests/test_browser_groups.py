"""Groups and quotas in Chromium: the admin makes a group with a quota, opens a model only to it
and puts a user in it; that user sees the model and, in the user menu, today's use against the
limit; someone outside the group sees no model at all."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.chat_client import ChatUser
from tests.fixtures.servers import connect_fake_provider

pytestmark = pytest.mark.browser


def signed_in(page: Page, base: str, who: ChatUser) -> None:
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "aihelper_session", "value": who.cookie, "url": base}])


def choose_option(page: Page, select_test_id: str, option: str) -> None:
    page.get_by_test_id(select_test_id).locator(".el-select__wrapper").click()
    page.locator(".el-select-dropdown__item:visible", has_text=option).click()
    page.keyboard.press("Escape")


def test_a_group_with_a_quota_opens_a_model_to_its_members_only(page: Page, live_server, fake_provider):
    base = live_server.url
    admin, _provider, model = connect_fake_provider(base, fake_provider, "groups_admin", model_name="Staff Model")
    member, outsider = ChatUser.register(base, "member_mo"), ChatUser.register(base, "outsider_oz")
    signed_in(page, base, admin)

    page.goto(base + "/admin/groups")
    expect(page.get_by_test_id("empty-groups")).to_be_visible()
    page.get_by_test_id("add-group").first.click()
    page.get_by_test_id("group-name").fill("员工")
    page.get_by_test_id("quota-messages_per_day").locator("input").fill("20")
    page.get_by_test_id("save-group").click()
    table = page.get_by_test_id("groups-table")
    expect(table).to_contain_text("员工")
    expect(table.get_by_test_id("group-quota")).to_have_text("每日 20 条消息")

    page.goto(base + "/admin/models")
    page.locator(f"[data-model-id='{model['model_id']}']").get_by_test_id("edit-model").click()
    choose_option(page, "model-groups", "员工")
    page.get_by_test_id("save-model").click()
    expect(page.get_by_test_id("model-restricted")).to_have_text("员工")

    page.goto(base + "/admin/users")
    row = page.get_by_test_id("users-table").locator(".el-table__row", has_text="member_mo").first
    row.get_by_test_id("more-actions").click()
    page.locator("[data-testid=user-access]:visible").click()
    choose_option(page, "user-groups", "员工")
    page.get_by_test_id("save-access").click()
    expect(row.get_by_test_id("user-group")).to_have_text("员工")

    signed_in(page, base, outsider)
    page.goto(base + "/")
    expect(page.get_by_test_id("no-models")).to_contain_text("请联系管理员")

    signed_in(page, base, member)
    page.goto(base + "/")
    expect(page.get_by_test_id("no-models")).to_have_count(0)
    page.get_by_test_id("user-menu").click()
    expect(page.get_by_test_id("menu-usage")).to_contain_text("今日：0 条消息")
    expect(page.get_by_test_id("usage-limit")).to_contain_text("今日消息：0 / 20")
