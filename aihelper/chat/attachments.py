"""POST /api/attachments, GET and DELETE /api/attachments/<id>: files for the composer."""

from __future__ import annotations

from flask import current_app, jsonify, request, send_file
from flask_babel import gettext
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from aihelper.auth.limits import upload_limits
from aihelper.chat import bp
from aihelper.failures import Invalid, TooLarge
from aihelper.i18n import N_
from aihelper.services import attachments
from aihelper.web.guards import accepts_multipart
from aihelper.web.upload_stream import BadUpload, uploaded_file

# A multipart form adds its boundary and headers to the file.
FORM_OVERHEAD = 64 * 1024


@bp.post("/api/attachments")
@accepts_multipart
@upload_limits
@login_required
def api_upload_attachment():
    limit_mb = current_app.config["AIHELPER_ATTACHMENT_MAX_MB"]
    request.max_content_length = limit_mb * 1024 * 1024 + FORM_OVERHEAD
    names: list[str] = []
    try:
        attachment = attachments.upload(current_user.id, uploaded_file("file", names.append), names)
    except RequestEntityTooLarge:
        raise TooLarge("too_large", N_("attachment_too_large"), limit=str(limit_mb)) from None
    except BadUpload:
        raise Invalid("missing_file", N_("attachment_missing")) from None
    return jsonify(attachments.attachment_json(attachment)), 201


@bp.get("/api/attachments/<attachment_id>")
@login_required
def api_attachment_file(attachment_id: str):
    attachment = attachments.owned(current_user.id, attachment_id)
    response = send_file(attachments.file_of(attachment), mimetype=attachment.media_type, max_age=86400)
    response.cache_control.public = False
    response.cache_control.private = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    # An image is shown in the page; a document is only ever downloaded, never opened by the browser.
    disposition = "inline" if attachment.kind == attachments.IMAGE else "attachment"
    response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{attachments.quoted_name(attachment)}"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.delete("/api/attachments/<attachment_id>")
@login_required
def api_delete_attachment(attachment_id: str):
    attachments.delete_unsent(current_user.id, attachment_id)
    return jsonify(message=gettext("deleted"))
