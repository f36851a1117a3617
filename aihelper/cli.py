"""Operator commands: `flask --app app init-db`, `create-admin NAME`, `purge-history`, `rotate-keys`,
`backup DIR`, `restore DIR`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask_babel import ngettext

from aihelper.errors import message_of
from aihelper.extensions import db
from aihelper.failures import Failure
from aihelper.i18n import speaking, words
from aihelper.schema import init_or_upgrade
from aihelper.services import accounts, audit, backup, retention, settings
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

    @app.cli.command("backup")
    @click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
    def backup_command(folder: Path):
        """Back up the database, the instance folder's keys and the uploaded files into FOLDER (new or
        empty), while the app keeps running."""
        outcome = _run_speaking_english(backup.back_up, folder, progress=_show_table)
        manifest = outcome.manifest
        click.echo(
            f"Backed up {sum(manifest['tables'].values())} rows of {len(manifest['tables'])} tables "
            f"and {len(manifest['files'])} files into {folder} (revision {manifest['revision']})."
        )

    @app.cli.command("restore")
    @click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.option("--force", is_flag=True, help="Replace what the configured database holds (asks first).")
    def restore_command(folder: Path, force: bool):
        """Restore the backup in FOLDER into the configured database (empty, or emptied with --force)
        and the instance folder. Stop the app first; start it again afterwards."""
        if force:
            click.confirm(
                f"This replaces everything in the {backup.database_kind()} database {db.engine.url.database} "
                "with the backup. Continue?",
                abort=True,
            )
        outcome = _run_speaking_english(backup.restore, folder, force=force, progress=_show_table)
        click.echo(
            f"Restored {sum(outcome.manifest['tables'].values())} rows and {len(outcome.manifest['files'])} files "
            f"from the backup of {outcome.manifest['created_at']}. Start the app again to use them."
        )
        click.echo("Every login was ended: everyone logs in again (their passwords are restored).")


def _show_table(table: str, rows: int) -> None:
    click.echo(f"  {table}: {rows} rows")


def _run_speaking_english(action, *args, **kwargs) -> backup.Outcome:
    """The action's outcome, its warnings shown; a failure ends the command with its message."""
    with speaking("en"):  # the commands speak English, like their --help
        try:
            outcome = action(*args, **kwargs)
        except Failure as problem:
            raise click.ClickException(message_of(problem)) from None
        for warning in outcome.warnings:
            click.echo("Warning: " + words(warning), err=True)
    return outcome
