"""Thin views over services/shares.py. The page and GET /api/shares/<id> need no login; every
other route is the logged-in owner's (the admin's list and revocation are in admin/api.py)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from aihelper.auth.limits import share_limits
from aihelper.services import shares
from aihelper.shares import bp
from aihelper.validation import read
from aihelper.web.json_body import json_object


def with_url(link: dict[str, Any]) -> dict[str, Any]:
    return {**link, "url": url_for("shares.page", share_id=link["share_id"], _external=True)}


@bp.after_request
def keep_out_of_search_engines(response):
    # A link is for whoever was given it: no index lists it, and no page it links to learns it
    # from the Referer. Unknown links answer with the same headers.
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/api/chat/session/<path:session_id>/share")
@share_limits
@login_required
def api_create(session_id: str):
    new = read(shares.NewShare, json_object())
    return jsonify(with_url(shares.create_share(current_user, session_id, new))), 201


@bp.get("/api/shares")
@login_required
def api_list():
    return jsonify(shares=[with_url(link) for link in shares.list_shares(current_user.id)])


@bp.delete("/api/shares/<share_id>")
@login_required
def api_revoke(share_id: str):
    shares.revoke_share(current_user.id, share_id)
    return jsonify(message=gettext("share_revoked"))


@bp.get("/api/shares/<share_id>")
def api_view(share_id: str):
    return jsonify(shares.shared_view(share_id))


@bp.post("/api/shares/<share_id>/copy")
@share_limits
@login_required
def api_copy(share_id: str):
    return jsonify(session_id=shares.copy_share(current_user.id, share_id)), 201


@bp.get("/s/<share_id>")
def page(share_id: str):
    data = {
        "share": shares.shared_view(share_id),
        "logged_in": current_user.is_authenticated,
        "login_url": url_for("auth.login", next=url_for("shares.page", share_id=share_id)),
    }
    return render_template("shares/page.html", page=data, title=data["share"]["title"])
