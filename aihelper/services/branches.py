"""A conversation as a tree of messages: which branch is shown, and switching to another.

Every message follows its `parent_id` (None: the first). An edited question is a sibling of the
question it edits, a regenerated answer a sibling of the answer; nothing is replaced. The branch
shown is the path from the conversation's `selected_leaf_id` up to the first message, or, when
none is selected, from its newest message: that is where every new turn goes, so only switching
to another branch writes a selection (and the next turn clears it again).

Along a path ids only grow (a message is always stored after the one it follows), so "older than
message X" on a path is `id < X`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Row, literal, select

from aihelper.extensions import db
from aihelper.failures import NotFound
from aihelper.fair_db import fair_share
from aihelper.i18n import N_
from aihelper.models import ChatMessage, ChatSession

_messages = ChatMessage.__table__
# A message of the tree: a row of (id, parent_id, role).
Node = Row
_STRUCTURE = select(_messages.c.id, _messages.c.parent_id, _messages.c.role).order_by(_messages.c.id)


def ancestors(anchor: ColumnElement, session_id: ColumnElement, depth: ColumnElement):
    """A recursive CTE of (id, depth): the message `anchor` of conversation `session_id` (depth 1),
    its parent (2) and so on up, at most `depth` messages. Each step is a primary-key lookup."""
    start = select(_messages.c.id, _messages.c.parent_id, literal(1).label("depth")).where(
        _messages.c.id == anchor, _messages.c.session_id == session_id
    )
    path = start.cte("path", recursive=True)
    step = (
        select(_messages.c.id, _messages.c.parent_id, (path.c.depth + 1).label("depth"))
        .join(path, _messages.c.id == path.c.parent_id)
        .where(path.c.depth < depth, _messages.c.session_id == session_id)  # a broken link ends it
    )
    return path.union_all(step)


def structure(session_id: str) -> list[Node]:
    """Every message of the conversation as (id, parent, role), oldest first: a few bytes each,
    whatever the messages hold (Core rows: ten thousand of them cost a few milliseconds)."""
    with fair_share():
        return db.session.connection().execute(_STRUCTURE.where(_messages.c.session_id == session_id)).all()


def shown_path(nodes: list[Node], selected_leaf_id: int | None) -> list[int]:
    """The ids of the branch shown, first message first."""
    parent_of = {message_id: parent_id for message_id, parent_id, _ in nodes}
    leaf = selected_leaf_id if selected_leaf_id in parent_of else (nodes[-1][0] if nodes else None)
    path: list[int] = []
    while leaf in parent_of and len(path) < len(nodes):  # a broken link ends the path
        path.append(leaf)
        leaf = parent_of[leaf]
    path.reverse()
    return path


def tree(nodes: list[Node]) -> list[dict[str, Any]]:
    """Every message with its parent and its children (oldest first), as the API shows them."""
    children: dict[int, list[int]] = {message_id: [] for message_id, _, _ in nodes}
    for message_id, parent_id, _ in nodes:
        if parent_id in children:
            children[parent_id].append(message_id)
    return [
        {"id": message_id, "parent_id": parent_id, "role": role, "children": children[message_id]}
        for message_id, parent_id, role in nodes
    ]


def newest_leaf_under(nodes: list[Node], message_id: int) -> int:
    """The newest message of the branches through `message_id`: where its user last was there.
    (The newest message of a subtree is always one of its leaves.)"""
    under = {message_id}
    for node_id, parent_id, _ in nodes:  # oldest first: a parent is met before its children
        if parent_id in under:
            under.add(node_id)
    return max(under)


def select_branch(session: ChatSession, message_id: int) -> list[Node]:
    """Show the branch through `message_id` (one of the conversation's messages) from now on;
    returns the tree it read."""
    nodes = structure(session.session_id)
    if message_id not in {node[0] for node in nodes}:
        raise NotFound("not_found", N_("message_not_found"))
    leaf = newest_leaf_under(nodes, message_id)
    session.selected_leaf_id = None if leaf == nodes[-1][0] else leaf
    db.session.commit()
    return nodes
