"""The organisation pages in Chromium: the admin makes a group with a quota, opens a model only to it
and puts a user in it (that user sees the model and, in the user menu, today's use against the
limit; someone outside the group sees no model at all); the usage dashboard draws its charts and
downloads CSV; the audit log lists and filters what admins did."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.browser import sign_in_as
from tests.fixtures.chat_client import ChatUser
from tests.fixtures.servers import connect_fake_provider

pytestmark = pytest.mark.browser


def signed_in(page: Page, base: str, who: ChatUser) -> None:
    sign_in_as(page, base, who.cookie)


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


def test_the_usage_dashboard_draws_its_charts_from_real_answers_and_downloads_csv(
    page: Page, live_server, fake_provider
):
    base = live_server.url
    admin, _provider, model = connect_fake_provider(base, fake_provider, "usage_admin", model_name="Fake")
    someone = ChatUser.register(base, "heavy_user")
    fake_provider.script(reply="counted", usage={"prompt_tokens": 70, "completion_tokens": 30})
    socket = someone.socket()
    assert socket.chat("count this", model["model_id"])[-1]["type"] == "done"
    socket.close()

    signed_in(page, base, admin)
    page.goto(base + "/admin/usage")
    time_chart = page.get_by_test_id("usage-chart-time")
    expect(time_chart.locator("canvas")).to_have_count(1)
    expect(page.get_by_test_id("usage-total").first).to_contain_text("1")
    drawn = "el => echarts.getInstanceByDom(el).getOption().series.map(s => s.data.reduce((a, b) => a + b, 0))"
    page.wait_for_function(f"() => ({drawn})(document.querySelector('[data-testid=usage-chart-time]'))[0] >= 70")
    top_users = page.get_by_test_id("usage-chart-user")
    expect(top_users.locator("canvas")).to_have_count(1)
    labels = top_users.evaluate("el => echarts.getInstanceByDom(el).getOption().yAxis[0].data")
    assert labels == ["heavy_user"]

    with page.expect_download() as downloaded:
        page.get_by_test_id("usage-csv").click()
    rows = list(csv.reader(downloaded.value.path().read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["key", "label", "messages", "prompt_tokens", "completion_tokens", "cost", "currency"]
    assert len(rows) == 31, "a row for each of the last 30 days"
    today = rows[-1]
    assert (today[0], today[2], today[6]) == (datetime.now(UTC).date().isoformat(), "1", "USD")
    assert int(today[3]) >= 70


def test_the_audit_log_page_lists_what_admins_did_and_filters_it(page: Page, live_server):
    base = live_server.url
    admin = ChatUser.register(base, "audit_admin")
    for name in ("Alpha", "Beta"):
        assert admin.http.post(base + "/api/admin/groups", json={"name": name}).status_code == 201
    admin.http.put(base + "/api/admin/settings", json={"retention_days": 9})
    signed_in(page, base, admin)

    page.goto(base + "/admin/audit")
    table = page.get_by_test_id("audit-table")
    # ...and, first of all, the first account becoming the admin
    expect(table.get_by_test_id("audit-entry-action")).to_have_text(["修改设置", "添加分组", "添加分组", "修改用户"])
    expect(table).to_contain_text("audit_admin")
    expect(table.get_by_test_id("audit-change").first).to_contain_text("retention_days 0 → 9")

    page.get_by_test_id("audit-action").locator(".el-select__wrapper").click()
    page.locator(".el-select-dropdown__item:visible", has_text="全部分组操作").click()
    expect(table.get_by_test_id("audit-entry-action")).to_have_text(["添加分组", "添加分组"])
    expect(table).to_contain_text("Beta")
