"""The admin's whole path in the browser: connect a provider, test it, import two models, order
them — and an ordinary user then sees exactly those models, in that order."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.fixtures.actions import PASSWORD, background_luminance, contrast
from tests.fixtures.browser import collect_problems, register_in_browser
from tests.fixtures.fake_provider import FakeProvider
from tests.fixtures.servers import connect_fake_provider

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


def test_moving_a_provider_to_another_host_asks_for_its_key_and_clears_the_old_one(
    page: Page, live_server, fake_provider
):
    key = "sk-browser-first-host-000000000077"
    problems = collect_problems(page)
    base = live_server.url
    register_in_browser(page, base, "admin_mia")
    expect(page).to_have_url(base + "/")
    created = page.request.post(
        base + "/api/admin/providers", data={"name": "Moving", "base_url": fake_provider.base_url, "api_key": key}
    )
    assert created.status == 201
    page.goto(base + "/admin/providers")
    table = page.get_by_test_id("providers-table")
    expect(table).to_contain_text("sk-…0077")

    with FakeProvider() as new_host:
        table.get_by_test_id("more-actions").click()
        page.get_by_test_id("edit-provider").click()
        url_field, key_field = page.get_by_test_id("provider-url"), page.get_by_test_id("provider-key")
        notice = page.get_by_test_id("key-cleared-notice")
        key_item = page.locator(".el-form-item.is-required").filter(has=key_field)
        url_field.fill(fake_provider.base_url.replace("/v1", "/v2"))
        expect(notice).to_have_count(0)  # the same host: the key stays
        expect(key_item).to_have_count(0)

        url_field.fill(new_host.base_url)  # the same address, another port: another server
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("清除已保存的 API Key")
        expect(key_item).to_have_count(1)
        expect(key_field).to_have_attribute("placeholder", "新主机的 API Key")
        key_field.fill("sk-typed")
        expect(notice).to_have_count(0)
        key_field.fill("")
        expect(notice).to_be_visible()

        page.get_by_test_id("save-provider").click()
        expect(page.get_by_text("已保存")).to_be_visible()
        expect(table).to_contain_text(new_host.base_url)
        expect(table).to_contain_text("无可用密钥，需重新填写")
        expect(table).not_to_contain_text("sk-…0077")

        page.get_by_test_id("test-provider").click()
        expect(page.get_by_text("该供应商的 API Key 需要重新填写")).to_be_visible()
        assert new_host.requests == [], "the new host received nothing, with or without the key"
    assert [p for p in problems if "/test" not in p] == []


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


SECTIONS = ("dashboard", "providers", "models", "users", "groups", "settings")
# Element Plus fades colours in over 0.1 s; a test reading computed colours reads the final ones.
NO_TRANSITIONS_JS = """document.addEventListener('DOMContentLoaded', () => {
  const style = document.createElement('style');
  style.textContent = '*, *::before, *::after { transition: none !important; animation: none !important; }';
  document.head.appendChild(style);
});"""


def admin_page(page: Page, base: str, name: str = "admin_ada") -> None:
    """The first account (so the admin) registers; the page's context holds its session."""
    registered = page.request.post(base + "/api/register", data={"username": name, "password": PASSWORD})
    assert registered.status == 201


def section_url(base: str, section: str) -> str:
    return base + ("/admin" if section == "dashboard" else "/admin/" + section)


def test_every_admin_surface_follows_the_dark_theme_with_readable_text(page: Page, live_server, fake_provider):
    base = live_server.url
    page.add_init_script(NO_TRANSITIONS_JS)  # colours are read the moment they change
    admin_page(page, base)
    assert page.request.post(
        base + "/api/admin/providers", data={"name": "Dark", "base_url": fake_provider.base_url}
    ).ok
    page.emulate_media(color_scheme="dark")
    for section in SECTIONS:
        page.goto(section_url(base, section))
        expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
        for surface in (".shell-header", ".admin-menu", ".el-card", ".admin-main"):
            assert background_luminance(page.locator(surface).first) < 0.05, f"{surface} on {section} is light"
        for text in (".admin-title", ".el-menu-item.is-active", ".el-card__header"):
            assert contrast(page.locator(text).first) >= 4.5, f"{text} on {section}"
        primary = page.locator(".admin-main .el-button--primary:not(.is-disabled)")
        for index in range(primary.count()):
            assert contrast(primary.nth(index)) >= 4.5, f"a primary button on {section}"

    # The switch in the header brings the light theme back, remembered on the next page.
    page.get_by_test_id("theme-toggle").click()
    expect(page.locator("html")).not_to_have_class(re.compile(r"\bdark\b"))
    page.goto(section_url(base, "providers"))
    expect(page.locator("html")).not_to_have_class(re.compile(r"\bdark\b"))
    assert background_luminance(page.locator(".el-card").first) > 0.9
    assert contrast(page.get_by_test_id("add-provider")) >= 4.5
    assert contrast(page.locator(".el-table th .cell").first) >= 4.5


def test_the_browser_tab_names_the_page(page: Page, live_server):
    base = live_server.url
    page.goto(base + "/login")
    expect(page).to_have_title("登录 · AI助手")
    page.goto(base + "/register")
    expect(page).to_have_title("注册 · AI助手")
    admin_page(page, base)
    titles = {"dashboard": "管理后台", "providers": "供应商", "models": "模型", "users": "用户", "settings": "设置"}
    for section, title in titles.items():
        page.goto(section_url(base, section))
        expect(page).to_have_title(title + " · AI助手")
    page.get_by_role("button", name="语言").click()
    page.get_by_role("menuitem", name="English").click()
    expect(page).to_have_title("Settings · AI Assistant")


def add_provider_via_api(page: Page, base: str, fake_provider, name: str = "Fake AI") -> dict:
    values = {"name": name, "base_url": fake_provider.base_url, "api_key": "sk-fake-0001"}
    created = page.request.post(base + "/api/admin/providers", data=values)
    assert created.status == 201
    return created.json()


def add_user_via_api(page: Page, base: str, username: str) -> None:
    assert page.request.post(base + "/api/admin/users", data={"username": username, "password": PASSWORD}).status == 201


def user_status(page: Page, base: str, username: str) -> str | None:
    users = page.request.get(base + "/api/admin/users").json()["users"]
    return next((u["status"] for u in users if u["username"] == username), None)


def test_disabling_or_deleting_a_user_asks_first(page: Page, live_server):
    base = live_server.url
    admin_page(page, base)
    add_user_via_api(page, base, "bob_b")
    page.goto(base + "/admin/users")
    row = page.locator(".el-table__row").filter(has_text="bob_b")
    box = page.locator(".el-message-box")

    row.get_by_test_id("toggle-user").click()
    expect(box).to_contain_text("停用 bob_b？")
    box.get_by_role("button", name="取消").click()
    expect(box).to_be_hidden()
    expect(row.get_by_test_id("user-status")).to_have_text("启用")
    assert user_status(page, base, "bob_b") == "active"

    row.get_by_test_id("toggle-user").click()
    box.get_by_role("button", name="停用").click()
    expect(row.get_by_test_id("user-status")).to_have_text("停用")
    assert user_status(page, base, "bob_b") == "disabled"
    row.get_by_test_id("toggle-user").click()  # enabling again needs no confirmation
    expect(row.get_by_test_id("user-status")).to_have_text("启用")

    row.get_by_test_id("more-actions").click()
    page.get_by_test_id("delete-user").click()
    expect(box).to_contain_text("删除用户 bob_b 及其全部对话？")
    box.get_by_role("button", name="取消").click()
    expect(box).to_be_hidden()
    assert user_status(page, base, "bob_b") == "active"
    row.get_by_test_id("more-actions").click()
    page.get_by_test_id("delete-user").click()
    box.get_by_role("button", name="删除").click()
    expect(page.get_by_text("已删除")).to_be_visible()
    expect(page.get_by_test_id("users-table")).not_to_contain_text("bob_b")
    assert user_status(page, base, "bob_b") is None


def inside_viewport(locator, width: int) -> bool:
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_on_a_390px_phone_names_and_every_action_are_reachable(page: Page, live_server, fake_provider):
    base = live_server.url
    admin_page(page, base)
    add_user_via_api(page, base, "bob_b")
    add_provider_via_api(page, base, fake_provider, "Phone AI")
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto(base + "/admin/users")
    row = page.locator(".el-table__row").filter(has_text="bob_b")
    name = page.locator(".el-table__row .user-cell-name", has_text="bob_b").first
    expect(name).to_be_visible()
    assert inside_viewport(name, 390)
    actions = page.locator(".el-table__fixed-right, .el-table-fixed-column--right").get_by_test_id("more-actions")
    expect(actions.first).to_be_visible()
    row.get_by_test_id("more-actions").last.click()
    for item in ("toggle-user", "admin-user", "reset-user", "delete-user"):
        expect(page.get_by_test_id(item).last).to_be_visible()
        assert inside_viewport(page.get_by_test_id(item).last, 390)
    page.get_by_test_id("delete-user").last.click()
    expect(page.locator(".el-message-box")).to_contain_text("bob_b")
    page.locator(".el-message-box").get_by_role("button", name="取消").click()

    page.goto(base + "/admin/providers")
    expect(page.get_by_text("Phone AI")).to_be_visible()
    assert inside_viewport(page.locator(".el-table__row").get_by_text("Phone AI").first, 390)
    more = page.get_by_test_id("providers-table").get_by_test_id("more-actions").last
    assert inside_viewport(more, 390)
    more.click()
    for item in ("test-provider", "import-models", "edit-provider", "delete-provider"):
        expect(page.get_by_test_id(item).last).to_be_visible()
    page.get_by_test_id("import-models").last.click()
    expect(page.get_by_role("dialog")).to_contain_text("导入模型 · Phone AI")

    page.goto(base + "/admin")
    for name in ("概览", "供应商", "模型", "用户", "设置"):  # icons only, still named for assistive technology
        expect(page.get_by_role("menuitem", name=name, exact=True)).to_be_visible()


def test_the_connection_status_is_visible_at_1280px(page: Page, live_server, fake_provider):
    base = live_server.url
    admin_page(page, base)
    add_provider_via_api(page, base, fake_provider)
    page.goto(base + "/admin/providers")
    page.get_by_test_id("test-provider").click()
    result = page.get_by_test_id("health-result")
    expect(result).to_contain_text("可连接")
    # Not merely present: nothing (the fixed actions column) covers its cell.
    covered = result.evaluate(
        """tag => { const r = tag.getBoundingClientRect();
                   const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                   if (top && tag.closest('td').contains(top)) return null;
                   return top ? top.outerHTML.slice(0, 200) : 'nothing'; }"""
    )
    assert covered is None
    assert inside_viewport(result, 1280)


def test_the_import_dialog_filters_hundreds_of_models_and_selects_all_shown(page: Page, live_server, fake_provider):
    fake_provider.models = [f"chat-{i:03d}" for i in range(250)] + [f"embed-{i:02d}" for i in range(50)]
    base = live_server.url
    admin_page(page, base)
    provider = add_provider_via_api(page, base, fake_provider)
    import_url = base + f"/api/admin/providers/{provider['id']}/import"
    already = page.request.post(import_url, data={"model_ids": ["embed-00"]})
    assert already.status == 201
    page.goto(base + "/admin/providers")
    page.get_by_test_id("import-models").click()
    dialog = page.get_by_role("dialog")
    options = dialog.locator(".import-options .el-checkbox")
    expect(options).to_have_count(300)

    page.get_by_test_id("import-filter").fill("embed")
    expect(options).to_have_count(50)
    page.get_by_test_id("import-select-all").click()
    expect(page.get_by_test_id("import-count")).to_have_text("已选 49 个")  # embed-00 is already there
    page.get_by_test_id("import-filter").fill("chat-00")
    expect(options).to_have_count(10)
    page.get_by_test_id("import-select-all").click()
    expect(page.get_by_test_id("import-count")).to_have_text("已选 59 个")
    dialog.get_by_text("chat-003", exact=True).click()  # one unticked: select-all is partly ticked
    expect(page.get_by_test_id("import-select-all").locator(".el-checkbox__input")).to_have_class(
        re.compile("is-indeterminate")
    )
    page.get_by_test_id("import-filter").fill("nothing-like-this")
    expect(dialog.get_by_text("没有匹配的模型")).to_be_visible()
    page.get_by_test_id("run-import").click()
    expect(page.get_by_text("已导入 58 个模型")).to_be_visible()
    stored = page.request.get(base + "/api/admin/models").json()["models"]
    assert sorted(m["model_id"] for m in stored) == sorted(
        [f"embed-{i:02d}" for i in range(50)] + [f"chat-00{i}" for i in range(10) if i != 3]
    )


def test_an_admin_adds_a_user_from_the_users_page_while_registration_is_closed(page: Page, live_server):
    base = live_server.url
    admin_page(page, base)
    assert page.request.put(base + "/api/admin/settings", data={"registration_open": False}).ok
    page.goto(base + "/admin/users")
    page.get_by_test_id("add-user").click()
    dialog = page.get_by_role("dialog", name="新增用户")
    expect(page.get_by_test_id("save-user")).to_be_disabled()
    page.get_by_test_id("new-username").fill("admin_ada")  # taken: said once, in the dialog
    page.get_by_test_id("new-password").fill(PASSWORD)
    page.get_by_test_id("save-user").click()
    expect(page.get_by_test_id("create-user-error")).to_have_text("该用户名已被注册")
    expect(page.get_by_text("该用户名已被注册")).to_have_count(1)

    page.get_by_test_id("new-username").fill("new_nina")
    dialog.locator(".el-switch").click()
    page.get_by_test_id("save-user").click()
    expect(page.get_by_text("已创建用户 new_nina")).to_be_visible()
    expect(dialog).to_be_hidden()
    row = page.locator(".el-table__row").filter(has_text="new_nina")
    expect(row).to_contain_text("管理员")
    page.reload()
    expect(page.get_by_test_id("users-table")).to_contain_text("new_nina")

    nina = requests.Session()
    logged_in = nina.post(base + "/api/login", json={"username": "new_nina", "password": PASSWORD}, timeout=10)
    assert logged_in.status_code == 200 and logged_in.json()["user"]["is_admin"] is True


def test_empty_admin_pages_speak_to_the_admin_and_offer_the_next_step(page: Page, live_server):
    base = live_server.url
    admin_page(page, base)
    page.goto(base + "/admin/models")
    empty = page.get_by_test_id("empty-models")
    expect(empty).to_contain_text("你还没有添加模型。先添加一个供应商")
    empty.get_by_role("link", name="添加供应商").click()
    expect(page).to_have_url(base + "/admin/providers")
    empty = page.get_by_test_id("empty-providers")
    expect(empty).to_contain_text("你还没有添加供应商")
    assert "管理员" not in empty.inner_text()
    empty.get_by_role("button", name="添加供应商").click()
    expect(page.get_by_role("dialog", name="添加供应商")).to_be_visible()


def test_the_settings_help_says_what_people_see(page: Page, live_server):
    base = live_server.url
    admin_page(page, base)
    page.goto(base + "/admin/settings")
    help_text = page.locator(".form-help").first
    expect(help_text).to_contain_text("新来的人无法自己创建账号")
    expect(help_text).to_contain_text("“用户”页面")
    page.get_by_role("button", name="语言").click()
    page.get_by_role("menuitem", name="English").click()
    expect(help_text).to_contain_text("new people cannot create accounts themselves: you add them on the Users page")
    assert "/api" not in page.locator(".admin-main").inner_text()


# Every form control in the page names itself to assistive technology (WCAG 1.3.1, 4.1.2).
UNLABELLED_JS = """() => [...document.querySelectorAll('input, textarea, select')]
  .filter(el => el.type !== 'hidden')
  .filter(el => {
    const labelled = el.getAttribute('aria-labelledby');
    const byId = labelled && labelled.split(/\\s+/).some(id => (document.getElementById(id)?.textContent || '').trim());
    const byLabel = [...(el.labels || [])].some(label => label.textContent.trim());
    return !((el.getAttribute('aria-label') || '').trim() || byId || byLabel);
  })
  .map(el => el.outerHTML.slice(0, 160))"""


def test_every_control_is_labelled_focus_shows_and_disabled_looks_disabled(page: Page, live_server, fake_provider):
    base = live_server.url
    page.add_init_script(NO_TRANSITIONS_JS)  # colours are read the moment they change
    page.goto(base + "/login")
    assert page.evaluate(UNLABELLED_JS) == []
    page.goto(base + "/register")
    assert page.evaluate(UNLABELLED_JS) == []
    admin_page(page, base)
    add_provider_via_api(page, base, fake_provider)
    add_user_via_api(page, base, "bob_b")
    for section in SECTIONS:
        page.goto(section_url(base, section))
        expect(page.locator(".admin-title")).to_be_visible()
        assert page.evaluate(UNLABELLED_JS) == [], section
    page.goto(base + "/admin/providers")
    page.get_by_test_id("add-provider").click()
    expect(page.get_by_test_id("provider-name")).to_be_visible()
    assert page.evaluate(UNLABELLED_JS) == []
    page.goto(base + "/admin/models")
    page.get_by_test_id("add-model").click()
    expect(page.get_by_role("dialog", name="添加模型")).to_be_visible()
    assert page.evaluate(UNLABELLED_JS) == []
    page.goto(base + "/admin/users")
    page.get_by_test_id("add-user").click()
    expect(page.get_by_test_id("new-username")).to_be_visible()
    assert page.evaluate(UNLABELLED_JS) == []

    # The keyboard's focus is drawn in a colour that stands out (≥ 3:1 against the header).
    page.goto(base + "/admin/users")
    page.keyboard.press("Tab")
    focused = page.locator(":focus-visible")
    expect(focused).to_have_count(1)
    ring = focused.evaluate("el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineWidth]")
    assert ring[0] != "none" and ring[1] != "0px"

    # In the dark, a disabled primary button is flat and dim; an enabled one stands out, readable.
    page.get_by_test_id("theme-toggle").click()
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    page.get_by_test_id("reset-user").first.click()
    disabled = page.get_by_test_id("save-reset")
    expect(disabled).to_be_disabled()
    enabled = page.get_by_test_id("add-user")
    assert contrast(enabled) >= 4.5
    assert background_luminance(enabled) > 0.25, "an enabled primary button is bright"
    assert background_luminance(disabled) < 0.05, "a disabled one is as dark as the dialog"
    assert contrast(disabled) < 4.5, "and its text dim"
    page.get_by_test_id("reset-password").fill("long-enough-password")
    expect(disabled).to_be_enabled()
    assert background_luminance(disabled) > 0.25


@pytest.mark.parametrize(("lang", "saved"), [("zh", "已保存"), ("en", "Saved.")])
def test_the_admin_sets_a_models_prices_in_the_editor(page: Page, live_server, fake_provider, lang, saved):
    base = live_server.url
    admin, _provider, model = connect_fake_provider(base, fake_provider, "price_admin")
    page.context.add_cookies(
        [{"name": "aihelper_session", "value": admin.cookie, "url": base}, {"name": "lang", "value": lang, "url": base}]
    )
    page.goto(base + "/admin/models")
    page.locator(f"[data-model-id='{model['model_id']}']").get_by_test_id("edit-model").click()
    page.get_by_test_id("price-input").locator("input").fill("2.5")
    page.get_by_test_id("price-output").locator("input").fill("10")
    page.get_by_test_id("currency").fill("cny")  # el-input gives its test id to the input
    page.get_by_test_id("save-model").click()
    expect(page.get_by_text(saved, exact=True)).to_be_visible()

    models = admin.http.get(base + "/api/admin/models").json()["models"]
    stored = next(m for m in models if m["id"] == model["id"])
    assert (stored["price_input"], stored["price_output"], stored["currency"]) == (2.5, 10, "CNY")
