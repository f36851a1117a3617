"""The single outbound client for AI providers (OpenAI-compatible APIs).

Every call to a provider goes through ``ProviderClient``; nothing else in the application opens
connections to a provider. No Flask here: this is plain library code, usable from a worker, a CLI
command or a test.
"""

from aihelper.llm.client import ChatStream, ModelListing, ProviderClient, Timeouts
from aihelper.llm.errors import ErrorCode, ProviderError
from aihelper.llm.events import Completion, Delta, Done
from aihelper.llm.url_safety import check_base_url

__all__ = [
    "ChatStream",
    "Completion",
    "Delta",
    "Done",
    "ErrorCode",
    "ModelListing",
    "ProviderClient",
    "ProviderError",
    "Timeouts",
    "check_base_url",
]
