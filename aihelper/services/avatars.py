"""Avatars (SECURITY.md rule 8): decoded and re-encoded by Pillow within size and pixel limits,
stored under random names in the instance folder (outside the code tree), served as WebP only."""

from __future__ import annotations

import io
import re
import secrets
from pathlib import Path

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select

from aihelper.extensions import db
from aihelper.failures import TooLarge, UnsupportedType
from aihelper.i18n import N_
from aihelper.models import User

MAX_BYTES = 2 * 1024 * 1024
# A 2 MB file may still decompress into a bomb; a phone photo (12 MP) is fine.
MAX_PIXELS = 16_000_000
ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP", "GIF"}
SIDE = 256
URL_PREFIX = "/avatars/"
AVATAR_NAME = re.compile(r"[0-9a-f]{32}\.webp")
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def avatar_folder() -> Path:
    folder = Path(current_app.instance_path) / "avatars"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _square(data: bytes) -> bytes:
    """The upload as a 256x256 WebP, or 415 when it is not an accepted image."""
    try:
        with Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise TooLarge("too_large", N_("avatar_too_large"))
            image.draft("RGB", (SIDE * 2, SIDE * 2))  # JPEG decodes at a reduced size: less memory
            image.seek(0)  # the first frame of an animation
            picture = ImageOps.exif_transpose(image).convert("RGBA")
    except Image.DecompressionBombError:
        raise TooLarge("too_large", N_("avatar_too_large")) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UnsupportedType(N_("not_an_image")) from None
    picture = ImageOps.fit(picture, (SIDE, SIDE), Image.Resampling.LANCZOS)
    output = io.BytesIO()
    picture.save(output, "WEBP", quality=85)
    return output.getvalue()


def set_avatar(user: User, data: bytes) -> str:
    """Store a new avatar for `user` and return its URL; the previous file is removed."""
    if len(data) > MAX_BYTES:
        raise TooLarge("too_large", N_("avatar_too_large"))
    encoded = _square(data)
    name = secrets.token_hex(16) + ".webp"
    (avatar_folder() / name).write_bytes(encoded)
    previous = user.avatar
    user.avatar = URL_PREFIX + name
    db.session.commit()
    old_name = (previous or "").removeprefix(URL_PREFIX)
    if AVATAR_NAME.fullmatch(old_name):
        (avatar_folder() / old_name).unlink(missing_ok=True)
    return user.avatar


def readable_avatar(viewer: User, name: str) -> Path | None:
    """The file of avatar `name` if `viewer` may see it (its owner, or an admin), else None."""
    if not AVATAR_NAME.fullmatch(name):
        return None
    owner_id = db.session.scalar(select(User.id).where(User.avatar == URL_PREFIX + name))
    if owner_id is None or (owner_id != viewer.id and not viewer.is_admin):
        return None
    path = avatar_folder() / name
    return path if path.is_file() else None
