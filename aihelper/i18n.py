"""Server-side messages in Chinese (the default) and English.

The language is the `lang` cookie set by the page's language switch, else the browser's
Accept-Language, else Chinese.
"""

from __future__ import annotations

from flask import has_request_context, request

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

MESSAGES: dict[str, dict[str, str]] = {
    "bad_request": {"zh": "请求无效", "en": "The request is not valid."},
    "invalid_json": {"zh": "请求体必须是 JSON 对象", "en": "The request body must be a JSON object."},
    "unsupported_media_type": {
        "zh": "请使用 Content-Type: application/json 发送请求",
        "en": "Send the request with Content-Type: application/json.",
    },
    "foreign_origin": {"zh": "不允许来自其他网站的请求", "en": "Requests from other sites are not allowed."},
    "csrf_failed": {
        "zh": "页面已过期，请刷新后重试",
        "en": "The page has expired. Reload it and try again.",
    },
    "unauthorized": {"zh": "请先登录", "en": "Please log in first."},
    "forbidden": {"zh": "没有权限执行此操作", "en": "You are not allowed to do this."},
    "not_found": {"zh": "找不到请求的内容", "en": "Not found."},
    "method_not_allowed": {"zh": "不支持该请求方法", "en": "This method is not allowed here."},
    "too_large": {"zh": "请求内容过大", "en": "The request is too large."},
    "rate_limited": {
        "zh": "尝试次数过多，请稍后再试",
        "en": "Too many attempts. Please wait a moment and try again.",
    },
    "internal_error": {
        "zh": "服务器出错了，请稍后再试（请求编号 {request_id}）",
        "en": "Something went wrong on the server. Please try again later (request {request_id}).",
    },
    "username_length": {
        "zh": "用户名长度须为 3–50 个字符",
        "en": "The username must be 3–50 characters long.",
    },
    "username_chars": {
        "zh": "用户名只能包含字母、数字、下划线、连字符和点",
        "en": "The username may contain only letters, digits, _ - and .",
    },
    "password_length": {
        "zh": "密码长度须为 8–128 个字符",
        "en": "The password must be 8–128 characters long.",
    },
    "field_required": {"zh": "请填写{field}", "en": "Please enter the {field}."},
    "field_username": {"zh": "用户名", "en": "username"},
    "field_password": {"zh": "密码", "en": "password"},
    "field_old_password": {"zh": "原密码", "en": "current password"},
    "field_new_password": {"zh": "新密码", "en": "new password"},
    "username_taken": {"zh": "该用户名已被注册", "en": "This username is already taken."},
    "registration_closed": {"zh": "管理员已关闭注册", "en": "Registration is closed by the administrator."},
    "registered": {"zh": "注册成功", "en": "Registered."},
    "bad_credentials": {"zh": "用户名或密码错误", "en": "Wrong username or password."},
    "account_disabled": {
        "zh": "该账号已被停用，请联系管理员",
        "en": "This account has been disabled. Contact the administrator.",
    },
    "logged_in": {"zh": "登录成功", "en": "Logged in."},
    "logged_out": {"zh": "已退出登录", "en": "Logged out."},
    "wrong_old_password": {"zh": "原密码不正确", "en": "The current password is wrong."},
    "password_changed": {
        "zh": "密码已修改，其他设备上的登录已失效",
        "en": "Password changed. You have been logged out on other devices.",
    },
    "password_same": {"zh": "新密码不能与原密码相同", "en": "The new password must differ from the current one."},
}


def current_language() -> str:
    if not has_request_context():
        return DEFAULT_LANGUAGE
    chosen = request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE


def t(key: str, **values: str) -> str:
    """The message `key` in the request's language, with `values` filled in."""
    text = MESSAGES[key][current_language()]
    return text.format(**values) if values else text


# Strings the Jinja templates themselves render (outside any Vue-compiled region).
UI_STRINGS: dict[str, dict[str, str]] = {
    "app_name": {"zh": "AI助手", "en": "AI Assistant"},
    "login_title": {"zh": "登录", "en": "Log in"},
    "register_title": {"zh": "注册", "en": "Register"},
    "noscript": {"zh": "请启用 JavaScript 后使用本系统。", "en": "Please enable JavaScript to use this site."},
    "back_home": {"zh": "返回首页", "en": "Back to the start page"},
}


def ui_strings() -> dict[str, str]:
    language = current_language()
    return {key: texts[language] for key, texts in UI_STRINGS.items()}
