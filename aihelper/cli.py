"""Operator commands: `flask --app app init-db`, `create-admin NAME`, `purge-history`, `rotate-keys`."""

from __future__ import annotations

import click
from flask import Flask
from flask_babel import ngettext

from aihelper.errors import message_of
from aihelper.failures import Failure
from aihelper.i18n import speaking
from aihelper.schema import init_or_upgrade
from aihelper.services import accounts, audit, retention, settings
from aihelper.services.provider_keys import rotate_keys


def register_commands(app: Flask) -> None:
    @app.cli.command("init-db")
    def init_db_command():
        """Create the database schema, or upgrade an existing one to the newest version."""
        click.echo(f"Database schema is ready (revision {init_or_upgrade()}).")

    @app.cli.command("create-admin")
    @click.argument("username")
    @click.option("--password", help="Password for a new account (asked for when omitted).")
    def create_admin_command(username: str, password: str | None):
        """Create an admin account, or make an existing account admin; either way, reset its login limits."""
        exists = accounts.find_user(username) is not None
        if password is None and not exists:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user, created = accounts.create_or_promote_admin(username, password)
        except Failure as problem:
            raise click.ClickException(message_of(problem)) from None
        click.echo(
            f"{'Created' if created else 'Promoted'} admin {user.username} (id {user.id}); its login limits are reset."
        )

    @app.cli.command("purge-history")
    def purge_history_command():
        """Delete the conversations older than the admin's retention setting (if one is set)."""
        days = settings.retention_days()
        if not days:
            click.echo("No retention is set (admin → settings): every conversation is kept.")
            return
        deleted = retention.purge_expired()
        with speaking("en"):  # the commands speak English, like their --help
            click.echo(ngettext("cli_purged", "cli_purged", deleted, days=days))

    @app.cli.command("rotate-keys")
    def rotate_keys_command():
        """Re-encrypt every stored provider key with the newest AIHELPER_ENCRYPTION_KEYS key."""
        rotated, unreadable = rotate_keys()
        audit.record_now("keys.rotate", "providers", {"rotated": [None, rotated], "unreadable": [None, unreadable]})
        with speaking("en"):  # the commands speak English, like their --help
            click.echo(ngettext("cli_rotated", "cli_rotated", rotated))
            if unreadable:
                click.echo(ngettext("cli_unreadable", "cli_unreadable", unreadable), err=True)
