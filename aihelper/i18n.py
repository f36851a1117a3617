"""Server-side messages in Chinese (the default) and English.

The language is the `lang` cookie set by the page's language switch, else the browser's
Accept-Language, else Chinese.
"""

from __future__ import annotations

from flask import has_request_context, request
from werkzeug.wrappers import Request

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

MESSAGES: dict[str, dict[str, str]] = {
    "bad_request": {"zh": "请求无效", "en": "The request is not valid."},
    "invalid_json": {"zh": "请求体必须是 JSON 对象", "en": "The request body must be a JSON object."},
    "bad_json": {"zh": "请求体嵌套过深，无法读取", "en": "The request body is nested too deeply to be read."},
    "bad_host": {"zh": "此服务器不为这个主机名提供服务", "en": "This server does not answer for this host name."},
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
    "login_ended": {
        "zh": "你已退出登录：可能是在别处退出、修改了密码，或账号已被管理员停用。请重新登录。",
        "en": "You were logged out: you logged out elsewhere, changed your password, or an administrator "
        "disabled your account. Please log in again.",
    },
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
    # Admin: providers, models, users, settings
    "field_name": {"zh": "名称", "en": "name"},
    "field_base_url": {"zh": "接口地址", "en": "base URL"},
    "field_model_id": {"zh": "模型 ID", "en": "model ID"},
    "field_model_name": {"zh": "显示名称", "en": "display name"},
    "field_provider": {"zh": "供应商", "en": "provider"},
    "field_status": {"zh": "状态", "en": "status"},
    "field_is_admin": {"zh": "管理员", "en": "admin flag"},
    "field_registration_open": {"zh": "开放注册", "en": "registration open"},
    "too_long": {"zh": "{field}不能超过 {limit} 个字符", "en": "The {field} may be at most {limit} characters long."},
    "out_of_range": {
        "zh": "{field}须在 {low} 到 {high} 之间",
        "en": "The {field} must be between {low} and {high}.",
    },
    "field_max_tokens": {"zh": "最大输出 token 数", "en": "max tokens"},
    "field_temperature": {"zh": "温度", "en": "temperature"},
    "field_context_messages": {"zh": "上下文消息数", "en": "context messages"},
    "field_sort_order": {"zh": "排序", "en": "sort order"},
    "field_api_key": {"zh": "API Key", "en": "API key"},
    "field_description": {"zh": "描述", "en": "description"},
    "field_system_prompt": {"zh": "系统提示词", "en": "system prompt"},
    "invalid_status": {"zh": "状态只能是启用或停用", "en": "The status must be active or disabled."},
    "invalid_boolean": {"zh": "{field}必须是是或否", "en": "The {field} must be true or false."},
    "base_url_invalid": {
        "zh": "接口地址须为 http:// 或 https:// 开头的完整地址，例如 https://api.deepseek.com/v1",
        "en": "The base URL must be a full http:// or https:// address, e.g. https://api.deepseek.com/v1",
    },
    "base_url_blocked": {
        "zh": "出于安全原因，不允许连接该地址",
        "en": "This address is not allowed, for security reasons.",
    },
    "provider_name_taken": {"zh": "已有同名的供应商", "en": "A provider with this name already exists."},
    "provider_not_found": {"zh": "找不到该供应商", "en": "Provider not found."},
    "model_config_not_found": {"zh": "找不到该模型", "en": "Model not found."},
    "model_exists": {"zh": "该供应商下已有此模型 ID", "en": "This provider already has a model with this ID."},
    "user_not_found": {"zh": "找不到该用户", "en": "User not found."},
    "last_admin": {
        "zh": "这是最后一位管理员，不能停用、取消管理员或删除",
        "en": "This is the last administrator: it cannot be disabled, demoted or deleted.",
    },
    "cannot_change_self": {
        "zh": "不能停用、降级或删除自己的账号",
        "en": "You cannot disable, demote or delete your own account.",
    },
    "invalid_order": {"zh": "排序列表无效", "en": "The order list is not valid."},
    "saved": {"zh": "已保存", "en": "Saved."},
    "deleted": {"zh": "已删除", "en": "Deleted."},
    "provider_unreachable": {"zh": "无法连接到供应商", "en": "The provider could not be reached."},
    "provider_error_unauthorized": {
        "zh": "供应商拒绝了 API Key（密钥错误或已失效）",
        "en": "The provider refused the API key (wrong or expired).",
    },
    "provider_error_rate_limited": {
        "zh": "供应商限流，请 {wait} 秒后再试",
        "en": "The provider is rate limiting requests; try again in {wait} seconds.",
    },
    "provider_error_rate_limited_no_wait": {
        "zh": "供应商限流，请稍后再试",
        "en": "The provider is rate limiting requests; try again shortly.",
    },
    "provider_error_model_not_found": {
        "zh": "供应商找不到该模型或接口地址有误",
        "en": "The provider does not know this model, or the base URL is wrong.",
    },
    "provider_error_provider_down": {
        "zh": "供应商服务暂时不可用",
        "en": "The provider is not available right now.",
    },
    "provider_error_timeout": {"zh": "供应商响应超时", "en": "The provider did not answer in time."},
    "provider_error_redirect": {
        "zh": "供应商返回了重定向（出于安全原因不会跟随），请检查接口地址",
        "en": "The provider answered with a redirect, which is never followed; check the base URL.",
    },
    "provider_error_blocked_url": {
        "zh": "出于安全原因，不允许连接该地址",
        "en": "This address is not allowed, for security reasons.",
    },
    "provider_error_bad_response": {
        "zh": "供应商返回了无法识别的内容",
        "en": "The provider answered with something that is not an OpenAI-compatible response.",
    },
    "provider_error_network": {"zh": "连接供应商时网络出错", "en": "A network error occurred reaching the provider."},
    "provider_error_ask_admin": {
        "zh": "这个模型现在无法使用（供应商的设置有问题）。请联系管理员检查这个模型的供应商。",
        "en": "This model cannot be used right now: its provider's settings are wrong. "
        "Ask your administrator to check this model's provider.",
    },
    "answer_failed_internal": {
        "zh": "服务器在生成这条回答时出错，请重试",
        "en": "The server failed while writing this answer; try again.",
    },
    "database_unavailable": {
        "zh": "数据库暂时不可用，请稍后再试",
        "en": "The database is unavailable right now; try again in a moment.",
    },
    "server_restarting": {
        "zh": "服务器正在重启，请稍后再发送",
        "en": "The server is restarting; send it again in a moment.",
    },
    "answer_interrupted": {
        "zh": "已中断：服务器重启了",
        "en": "Interrupted: the server restarted.",
    },
    "empty_message": {"zh": "消息不能为空", "en": "The message is empty."},
    "message_too_long": {
        "zh": "消息太长，最多 {limit} 个字符",
        "en": "The message is too long: at most {limit} characters.",
    },
    "invalid_client_id": {"zh": "client_id 无效", "en": "The client_id is not valid."},
    "model_unavailable": {
        "zh": "该模型不存在或已停用，请重新选择模型",
        "en": "This model does not exist or is disabled; choose another model.",
    },
    "busy": {
        "zh": "这个对话正在生成回答，请等它结束或先停止",
        "en": "This conversation is still generating an answer; wait for it or stop it first.",
    },
    "nothing_to_regenerate": {"zh": "没有可以重新生成的回答", "en": "There is no answer to regenerate."},
    "not_running": {
        "zh": "该回答已经生成完毕，请重新加载对话",
        "en": "This answer is no longer being generated; reload the conversation.",
    },
    "not_an_image": {
        "zh": "请上传 PNG、JPEG、WebP 或 GIF 图片",
        "en": "Upload a PNG, JPEG, WebP or GIF image.",
    },
    "avatar_too_large": {"zh": "图片不能超过 2 MB", "en": "The image may be at most 2 MB."},
    "avatar_saved": {"zh": "头像已更新", "en": "Avatar updated."},
    "field_title": {"zh": "标题", "en": "title"},
    "field_pinned": {"zh": "置顶", "en": "pinned"},
    "too_many_turns": {
        "zh": "同时生成的回答太多，请等其中一个结束",
        "en": "Too many answers are being generated at once; wait for one to finish.",
    },
    "stream_lost": {
        "zh": "实时连接中断，回答仍会保存，请稍后重新打开对话",
        "en": "The live stream broke; the answer is still being saved. Reopen the conversation shortly.",
    },
    "answer_failed": {"zh": "这条回答生成失败", "en": "This answer failed."},
    "bad_frame": {"zh": "无法识别的消息格式", "en": "This message could not be understood."},
    "cut_off": {"zh": "回答达到最大长度被截断", "en": "The answer was cut off at the model's max tokens."},
    "internal_turn_error": {
        "zh": "生成回答时服务器出错（请求编号 {request_id}）",
        "en": "The server failed while generating the answer (request {request_id}).",
    },
    "key_needs_reentry": {
        "zh": "该供应商的 API Key 需要重新填写（接口地址换到了另一台主机，或加密密钥已更换）",
        "en": "Enter this provider's API key again: its URL moved to another host, or the encryption keys changed.",
    },
    "model_key_needs_reentry": {
        "zh": "该模型的供应商 API Key 需要管理员重新填写，暂时无法使用",
        "en": "This model cannot be used until an administrator enters its provider's API key again.",
    },
    # Conversation history
    "session_not_found": {"zh": "找不到该对话", "en": "Conversation not found."},
    "invalid_limit": {
        "zh": "limit 须为正整数（最大 {high}）",
        "en": "The limit must be a positive whole number (at most {high}).",
    },
    "invalid_cursor": {
        "zh": "before 须为列表中的对话 ID 或 ISO 8601 时间",
        "en": "before must be a conversation ID from the list or an ISO 8601 time.",
    },
    "field_start_time": {"zh": "开始时间", "en": "start time"},
    "field_end_time": {"zh": "结束时间", "en": "end time"},
    "invalid_time": {
        "zh": "{field}无法识别，请使用 ISO 8601 格式，例如 2026-11-24 或 2026-11-24T08:00:00",
        "en": "The {field} is not readable; use ISO 8601, e.g. 2026-11-24 or 2026-11-24T08:00:00.",
    },
    "invalid_range": {"zh": "开始时间不能晚于结束时间", "en": "The start time must not be after the end time."},
    "invalid_timezone": {
        "zh": "无法识别的时区，请使用 IANA 时区名，例如 Asia/Shanghai",
        "en": "Unknown time zone; use an IANA name such as Asia/Shanghai.",
    },
    # Search, several at once, export and import
    "field_query": {"zh": "搜索内容", "en": "search text"},
    "field_before": {"zh": "before", "en": "before"},
    "query_too_long": {"zh": "搜索内容最多 {limit} 个字符", "en": "The search text can be at most {limit} characters."},
    "field_session_ids": {"zh": "对话 ID 列表", "en": "conversation IDs"},
    "invalid_session_ids": {
        "zh": "session_ids 须为 1–{limit} 个对话 ID 的列表",
        "en": "session_ids must be a list of 1 to {limit} conversation IDs.",
    },
    "deleted_count": {"zh": "已删除 {count} 个对话", "en": "Deleted {count} conversation(s)."},
    "invalid_export_format": {"zh": "format 须为 md 或 json", "en": "format must be md or json."},
    "import_too_large": {
        "zh": "导入文件过大（最大 {limit} MB）",
        "en": "The file to import is too large (at most {limit} MB).",
    },
    "import_not_json": {
        "zh": "导入文件不是有效的 JSON（或嵌套过深）",
        "en": "The file to import is not valid JSON (or is nested too deeply).",
    },
    "import_invalid": {
        "zh": "导入文件格式不对：{where} {problem}",
        "en": "The file to import is not an aihelper export: {where} {problem}",
    },
    "import_not_text": {"zh": "应为文本", "en": "must be text"},
    "import_too_long": {"zh": "超过 {limit} 个字符", "en": "is longer than {limit} characters"},
    "import_empty": {"zh": "不能为空", "en": "must not be empty"},
    "import_not_unicode": {"zh": "不是有效的 Unicode 文本", "en": "is not valid Unicode"},
    "import_not_time": {"zh": "应为 ISO 8601 时间", "en": "must be an ISO 8601 time"},
    "import_years": {"zh": "年份应在 {low} 到 {high} 之间", "en": "must be between the years {low} and {high}"},
    "import_not_object": {"zh": "应为对象", "en": "must be an object"},
    "import_unknown_field": {"zh": "含有未知字段 “{name}”", "en": "has an unknown field \u201c{name}\u201d"},
    "import_missing_field": {"zh": "缺少字段 “{name}”", "en": "lacks the field \u201c{name}\u201d"},
    "import_not_count": {"zh": "应为非负整数", "en": "must be a whole number"},
    "import_bad_role": {"zh": "应为 user 或 assistant", "en": "must be user or assistant"},
    "import_bad_status": {"zh": "应为 done、stopped 或 error", "en": "must be done, stopped or error"},
    "import_not_list": {"zh": "应为列表", "en": "must be a list"},
    "import_not_flag": {"zh": "应为 true 或 false", "en": "must be true or false"},
    "import_bad_format": {
        "zh": "应为 “{format}” 第 {version} 版",
        "en": "must be \u201c{format}\u201d, version {version}",
    },
    "import_too_many_conversations": {
        "zh": "应为最多 {limit} 个对话的列表",
        "en": "must be a list of at most {limit} conversations",
    },
    "import_too_many_messages": {
        "zh": "共有 {count} 条消息，一个文件最多 {limit} 条",
        "en": "hold {count} messages; one file may hold {limit}",
    },
    "import_too_many_values": {
        "zh": "含有的对象或值多于 {limit} 条消息的导出文件所能有的",
        "en": "holds more objects or values than an export of {limit} messages can",
    },
    "import_conversation_too_long": {
        "zh": "共有 {count} 条消息，一个对话最多 {limit} 条",
        "en": "hold {count} messages; one conversation may hold {limit}",
    },
    "import_conflict": {
        "zh": "同样的对话正在另一处导入，请稍后重试（已存在的会被跳过）",
        "en": "The same conversations are being imported elsewhere right now; try again (those present are skipped).",
    },
    "imported": {
        "zh": "已导入 {added} 个对话（{skipped} 个已存在，已跳过）",
        "en": "Imported {added} conversation(s) ({skipped} already present, skipped).",
    },
    "export_model": {"zh": "模型", "en": "Model"},
    "export_created": {"zh": "创建时间", "en": "Created"},
    "export_you": {"zh": "我", "en": "Me"},
    "export_assistant": {"zh": "助手", "en": "Assistant"},
    "export_status_stopped": {"zh": "（已停止生成）", "en": "(stopped)"},
    "export_status_error": {"zh": "（生成失败，以下为已收到的部分）", "en": "(failed; what arrived is below)"},
    "export_status_streaming": {"zh": "（仍在生成）", "en": "(still being generated)"},
    # Retention
    "field_retention_days": {"zh": "对话保留天数", "en": "days conversations are kept"},
}


def current_language() -> str:
    return request_language(request) if has_request_context() else DEFAULT_LANGUAGE


def request_language(req: Request) -> str:
    """The language of `req`, also before Flask has a request context (a WSGI middleware)."""
    chosen = req.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return req.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE


def t(key: str, **values: str) -> str:
    """The message `key` in the request's language, with `values` filled in."""
    return t_in(current_language(), key, **values)


def t_in(language: str, key: str, **values: str) -> str:
    """The message `key` in `language` (for work that outlives its request, e.g. a stream)."""
    text = MESSAGES[key][language if language in LANGUAGES else DEFAULT_LANGUAGE]
    return text.format(**values) if values else text


# Strings the Jinja templates themselves render (outside any Vue-compiled region).
UI_STRINGS: dict[str, dict[str, str]] = {
    "app_name": {"zh": "AI助手", "en": "AI Assistant"},
    "login_title": {"zh": "登录", "en": "Log in"},
    "register_title": {"zh": "注册", "en": "Register"},
    "noscript": {"zh": "请启用 JavaScript 后使用本系统。", "en": "Please enable JavaScript to use this site."},
    "back_home": {"zh": "返回首页", "en": "Back to the start page"},
    # The browser tab of each admin page names that page (the dashboard is the admin area itself).
    "admin_dashboard": {"zh": "管理后台", "en": "Administration"},
    "admin_providers": {"zh": "供应商", "en": "Providers"},
    "admin_models": {"zh": "模型", "en": "Models"},
    "admin_users": {"zh": "用户", "en": "Users"},
    "admin_settings": {"zh": "设置", "en": "Settings"},
}


def ui_strings() -> dict[str, str]:
    language = current_language()
    return {key: texts[language] for key, texts in UI_STRINGS.items()}
