"""Unbound extension singletons; `create_app` binds them to an app."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sock import Sock
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from aihelper.web.client_address import client_key


class Base(DeclarativeBase):
    # Named constraints keep Alembic migrations and database.sql deterministic across databases.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
sock = Sock()
# Translations (aihelper/i18n.py binds it: catalogs, the language of each request).
babel = Babel()
# Storage (memory:// or Redis) comes from RATELIMIT_STORAGE_URI, set in config.load_settings.
# Per-address limits count an IPv6 client by its /64.
limiter = Limiter(key_func=client_key)
