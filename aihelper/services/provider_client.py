"""Access to the app's one outbound client (see aihelper/llm), created in create_app."""

from flask import current_app

from aihelper.llm import ProviderClient


def provider_client() -> ProviderClient:
    return current_app.extensions["llm_client"]
