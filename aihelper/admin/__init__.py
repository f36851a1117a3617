"""The admin area: pages under /admin and the JSON API under /api/admin (admins only)."""

from flask import Blueprint
from flask_login import current_user

from aihelper.extensions import login_manager
from aihelper.failures import Forbidden
from aihelper.i18n import N_

bp = Blueprint("admin", __name__)


@bp.before_request
def require_admin():
    # Checked on every request to every admin route, pages and API alike (SECURITY.md rule 3).
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        raise Forbidden(N_("forbidden"))
    return None


from aihelper.admin import api, pages  # noqa: E402,F401  (routes register on import)
