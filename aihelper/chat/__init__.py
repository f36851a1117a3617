"""The chat: its page, the websocket, the original SSE endpoint, and the turn behind both.

Importing the package defines only the blueprint, so that the frames can be imported without the
views (the live hub needs them); create_app imports the views, which register their routes.
"""

from flask import Blueprint

bp = Blueprint("chat", __name__)
