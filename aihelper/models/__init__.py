"""All tables; importing this package registers them with the metadata."""

from aihelper.models.attachment import Attachment
from aihelper.models.audit import AuditEntry
from aihelper.models.chat import ChatMessage, ChatSession
from aihelper.models.organisation import UserGroup, group_members, model_access
from aihelper.models.preset import Preset, PresetScope, preset_groups
from aihelper.models.provider import ApiProvider, ModelConfig
from aihelper.models.share import SharedLink
from aihelper.models.usage import UsageDay
from aihelper.models.user import AppSetting, LoginSession, User

__all__ = [
    "ApiProvider",
    "AppSetting",
    "Attachment",
    "AuditEntry",
    "ChatMessage",
    "ChatSession",
    "LoginSession",
    "ModelConfig",
    "Preset",
    "PresetScope",
    "SharedLink",
    "UsageDay",
    "User",
    "UserGroup",
    "group_members",
    "model_access",
    "preset_groups",
]
