"""Avatar uploads: only real images, re-encoded, stored under random names, shown to their owner
(and admins) only."""

from __future__ import annotations

import io

from PIL import Image

from tests.fixtures.actions import make_admin_and_user


def image_bytes(fmt: str = "PNG", size=(300, 200), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def upload(client, data: bytes, filename: str = "me.png", content_type: str = "image/png"):
    return client.post(
        "/api/user/avatar",
        data={"file": (io.BytesIO(data), filename, content_type)},
        content_type="multipart/form-data",
    )


def test_an_uploaded_image_becomes_a_square_webp_avatar(app):
    _admin, user = make_admin_and_user(app)
    for fmt in ("PNG", "JPEG", "WEBP", "GIF"):
        response = upload(user, image_bytes(fmt), f"me.{fmt.lower()}")
        assert response.status_code == 200, fmt
        url = response.json["avatar"]
        assert url.startswith("/avatars/") and url.endswith(".webp") and "me" not in url
        served = user.get(url)
        assert served.status_code == 200 and served.mimetype == "image/webp"
        assert Image.open(io.BytesIO(served.data)).size == (256, 256)
    assert user.get("/api/user/info").json["avatar"] == url


def test_replacing_an_avatar_removes_the_old_file(app):
    _admin, user = make_admin_and_user(app)
    first = upload(user, image_bytes()).json["avatar"]
    second = upload(user, image_bytes(color=(0, 0, 255))).json["avatar"]
    assert first != second
    assert user.get(first).status_code == 404
    assert user.get(second).status_code == 200


def test_avatars_are_visible_to_their_owner_and_admins_only(app):
    admin, user = make_admin_and_user(app)
    url = upload(user, image_bytes()).json["avatar"]
    assert admin.get(url).status_code == 200
    stranger = app.test_client()
    from tests.fixtures.actions import register

    register(stranger, "stranger")
    assert stranger.get(url).status_code == 404
    assert app.test_client().get(url).status_code == 302, "anonymous visitors are sent to log in"


def test_things_that_are_not_images_are_refused(app):
    _admin, user = make_admin_and_user(app)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>'
    for data, name, mime in (
        (svg, "x.svg", "image/svg+xml"),
        (b"GIF89a<script>alert(1)</script>", "x.gif", "image/gif"),
        (b"just text", "x.png", "image/png"),
        (image_bytes("BMP"), "x.bmp", "image/bmp"),
    ):
        response = upload(user, data, name, mime)
        assert (response.status_code, response.json["code"]) == (415, "not_an_image"), name
    assert user.get("/api/user/info").json["avatar"] is None


def test_large_files_and_pixel_bombs_are_refused(app):
    _admin, user = make_admin_and_user(app)
    noisy = io.BytesIO()
    Image.effect_noise((1100, 1100), 100).convert("RGB").save(noisy, "PNG")
    assert len(noisy.getvalue()) > 2 * 1024 * 1024
    assert upload(user, noisy.getvalue()).status_code == 413
    bomb = image_bytes(size=(6000, 6000), color=(0, 0, 0))  # tiny file, 36 million pixels
    assert len(bomb) < 2 * 1024 * 1024
    assert upload(user, bomb).status_code == 413


def test_an_avatar_upload_from_another_site_is_refused(app):
    _admin, user = make_admin_and_user(app)
    response = user.post(
        "/api/user/avatar",
        data={"file": (io.BytesIO(image_bytes()), "me.png", "image/png")},
        content_type="multipart/form-data",
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
