"""Jinja forms for the login and register pages (Flask-WTF supplies the CSRF token).

The account rules themselves live in services/accounts.py; these forms only carry the fields.
"""

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField


class CredentialsForm(FlaskForm):
    username = StringField()
    password = PasswordField()


class LogoutForm(FlaskForm):
    pass
