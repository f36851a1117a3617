"""Small actions the tests repeat: registering, logging in, reading a page's embedded data,
waiting for a condition, reading stored messages."""

from __future__ import annotations

import json
import re
import time

from sqlalchemy import select

from aihelper.extensions import db
from aihelper.models import ChatMessage

PASSWORD = "correct-horse-42"


def register(client, username: str, password: str = PASSWORD, **extra):
    return client.post("/api/register", json={"username": username, "password": password, **extra})


def login(client, username: str, password: str = PASSWORD):
    return client.post("/api/login", json={"username": username, "password": password})


def page_data(html: str) -> dict:
    """The JSON a Jinja page hands to its Vue component."""
    match = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert match, "the page has no page-data block"
    return json.loads(match.group(1))


def session_cookie(client) -> str:
    cookie = client.get_cookie("aihelper_session")
    assert cookie is not None, "no session cookie was set"
    return cookie.value


def make_admin_and_user(app):
    """Two logged-in clients: the first account registered (the admin) and an ordinary user."""
    admin = app.test_client()
    register(admin, "admin_ann")
    user = app.test_client()
    register(user, "user_bob")
    return admin, user


def add_provider(admin, base_url: str, api_key: str = "sk-test-key-0001", name: str = "Fake"):
    response = admin.post("/api/admin/providers", json={"name": name, "base_url": base_url, "api_key": api_key})
    assert response.status_code == 201, response.json
    return response.json


def wait_for(condition, timeout: float = 10.0):
    """The first truthy value of condition(), polled until the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def stored(app, **where) -> list[ChatMessage]:
    """The messages matching `where`, in order, read from the database now."""
    with app.app_context():
        rows = db.session.scalars(select(ChatMessage).filter_by(**where).order_by(ChatMessage.id)).all()
        db.session.expunge_all()
        return rows


# The WCAG contrast ratio of an element's text against the first mostly opaque background behind
# it, as the browser computed them (runs in the page).
CONTRAST_JS = """(element) => {
  const rgba = text => {
    const v = text.match(/[\\d.]+/g).map(Number);
    return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1];
  };
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0.5) return c;
    }
    return [255, 255, 255, 1];
  };
  const linear = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = c => c.slice(0, 3).map(linear).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const fg = luminance(rgba(getComputedStyle(element).color)), bg = luminance(background(element));
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}"""

# The relative luminance of an element's own background colour (0 black … 1 white).
BACKGROUND_LUMINANCE_JS = """(element) => {
  const v = getComputedStyle(element).backgroundColor.match(/[\\d.]+/g).map(Number);
  return v.slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, x, i) => sum + x * [0.2126, 0.7152, 0.0722][i], 0);
}"""


def contrast(locator) -> float:
    return locator.evaluate(CONTRAST_JS)


def background_luminance(locator) -> float:
    return locator.evaluate(BACKGROUND_LUMINANCE_JS)
