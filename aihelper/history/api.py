"""The history endpoints: list, one conversation, time range (alias date-range), search, rename and
pin, switch branch, delete one or several, export (one as Markdown or JSON, everything as JSON) and import.

Thin views: every rule (ownership, cursors, time parsing, file checks) lives in the services.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

from flask import Response, current_app, jsonify, request, stream_with_context
from flask_babel import gettext, ngettext
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from aihelper.auth.limits import import_limits
from aihelper.failures import Invalid, TooLarge
from aihelper.history import bp
from aihelper.i18n import N_
from aihelper.live import live_hub
from aihelper.services import attachments, exports, history, import_file, import_zip, imports, search
from aihelper.services.import_zip import ZIP_SIGNATURE
from aihelper.validation import read
from aihelper.web.guards import accepts_multipart
from aihelper.web.json_body import json_object
from aihelper.web.upload_stream import BadUpload, uploaded_file


@bp.get("/api/chat/history")
@login_required
def api_history():
    args = request.args.to_dict()
    if "session_id" in args:
        page = read(history.ConversationPage, args)
        return jsonify(history.conversation(current_user.id, page, for_admin=current_user.is_admin))
    return jsonify(sessions=history.list_sessions(current_user.id, read(history.SessionsPage, args)))


@bp.post("/api/chat/history/time-range")
@bp.post("/api/chat/history/date-range", endpoint="api_history_date_range")
@login_required
def api_history_time_range():
    span = read(history.TimeSpan, json_object())
    return jsonify(sessions=history.sessions_in_range(current_user.id, span))


@bp.get("/api/chat/search")
@login_required
def api_search():
    return jsonify(results=search.search(current_user.id, read(search.SearchQuery, request.args.to_dict())))


@bp.put("/api/chat/session/<path:session_id>")
@login_required
def api_update_session(session_id: str):
    change = read(history.SessionChange, json_object())
    return jsonify(history.update_session(current_user.id, session_id, change))


@bp.put("/api/chat/session/<path:session_id>/branch")
@login_required
def api_choose_branch(session_id: str):
    choice = read(history.BranchChoice, json_object())
    return jsonify(history.choose_branch(current_user.id, session_id, choice, for_admin=current_user.is_admin))


@bp.delete("/api/chat/session/<path:session_id>")
@login_required
def api_delete_session(session_id: str):
    # An answer still being generated for it stops: its provider call would be paid for nothing.
    live_hub().request_stop(session_id, current_user.id)
    history.delete_session(current_user.id, session_id)
    return jsonify(message=gettext("deleted"))


@bp.post("/api/chat/sessions/delete")
@login_required
def api_delete_sessions():
    deleted = history.delete_sessions(current_user.id, read(history.SessionChoice, json_object()))
    for session_id in deleted:
        live_hub().request_stop(session_id, current_user.id)
    return jsonify(message=ngettext("deleted_count", "deleted_count", len(deleted)), deleted=deleted)


def _download(body, filename: str, mimetype: str, *, ascii_name: str | None = None, **headers: str) -> Response:
    """An attachment named `filename` (RFC 6266: a name in UTF-8 for browsers, `ascii_name` for the
    rest when the name is not ASCII). Names come from exports.download_name: no quote or backslash."""
    response = Response(body, mimetype=mimetype, headers=headers)
    plain = filename if filename.isascii() else (ascii_name or "download")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"
    return response


@bp.get("/api/chat/session/<path:session_id>/export")
@login_required
def api_export_session(session_id: str):
    asked = read(exports.ExportQuery, request.args.to_dict())
    kind = asked.format
    session = history.owned_session(current_user.id, session_id)
    filename, ascii_name = exports.download_name(session, kind), exports.download_name(session, kind, ascii=True)
    if kind == "json":
        return _download(
            stream_with_context(exports.export_one(session)), filename, "application/json", ascii_name=ascii_name
        )
    labels = {
        "model": gettext("export_model"),
        "created": gettext("export_created"),
        "you": gettext("export_you"),
        "assistant": gettext("export_assistant"),
        "status_stopped": gettext("export_status_stopped"),
        "status_error": gettext("export_status_error"),
        "status_streaming": gettext("export_status_streaming"),
    }
    markdown = exports.export_markdown(session, labels, asked.tz)
    return _download(stream_with_context(markdown), filename, "text/markdown", ascii_name=ascii_name)


@bp.get("/api/chat/export")
@login_required
def api_export_all():
    """Everything as the JSON document, or, when messages have files, as a zip of the document
    and the files (`?format=json`: the document alone, the files only named)."""
    asked = read(exports.ExportAllQuery, request.args.to_dict())
    count = exports.export_count(current_user.id)
    day = datetime.now(UTC).strftime("%Y%m%d")
    counted = {"X-Conversation-Count": str(count)}
    if asked.format != "json" and exports.has_files(current_user.id):
        body = stream_with_context(exports.export_all_zip(current_user.id))
        return _download(body, f"aihelper-export-{day}.zip", "application/zip", **counted)
    body = stream_with_context(exports.export_all(current_user.id))
    return _download(body, f"aihelper-export-{day}.json", "application/json", **counted)


def _upload_pieces(limit_mb: int) -> Iterator[bytes]:
    """The uploaded file (multipart, as the page sends it) or the body (JSON), as it arrives."""
    try:
        yield from uploaded_file("file")
    except RequestEntityTooLarge:
        raise TooLarge("too_large", N_("import_too_large"), limit=str(limit_mb)) from None
    except BadUpload:
        raise Invalid(N_("import_not_json")) from None


@bp.post("/api/chat/import")
@accepts_multipart
@import_limits
@login_required
def api_import():
    """An export document (JSON), or an export zip: its document, and the files it names."""
    limit_mb = current_app.config["AIHELPER_IMPORT_MAX_MB"]
    request.max_content_length = limit_mb * 1024 * 1024
    question_max = current_app.config["AIHELPER_MAX_MESSAGE_CHARS"]
    pieces = _upload_pieces(limit_mb)
    first = b""
    for piece in pieces:  # enough to tell a zip from JSON
        first += piece
        if len(first) >= len(ZIP_SIGNATURE):
            break
    if not first.startswith(ZIP_SIGNATURE):
        conversations = import_file.parse_import(itertools.chain([first], pieces), question_max)
        result = imports.import_conversations(current_user.id, conversations)
    else:
        with tempfile.TemporaryFile() as spooled:  # a zip is read from its end: all of it first
            spooled.write(first)
            for piece in pieces:
                spooled.write(piece)
            archive = import_zip.opened(spooled)
            conversations = import_file.parse_import(import_zip.document(archive), question_max)
            result = imports.import_conversations(
                current_user.id,
                conversations,
                lambda user_id, named: attachments.bring_imported(user_id, named, import_zip.reader(archive)),
            )
    message = ngettext("imported", "imported", result["added"], skipped=result["skipped"])
    return jsonify(message=message, **result)
