"""Branches, through the running server: an edit or a regenerate of any message is a sibling of
it, the branch shown is what the model is sent as context, and the other branches stay
reachable, in search, in the tree and through export and import."""

from __future__ import annotations

import json

from tests.fixtures.chat_client import ChatUser


def sent_context(fake_provider) -> list[tuple[str, str]]:
    """The messages of the last streaming request the provider received, but the system prompt."""
    body = [r["json"] for r in fake_provider.requests if (r["json"] or {}).get("stream")][-1]
    return [(m["role"], m["content"]) for m in body["messages"] if m["role"] != "system"]


def shown(user: ChatUser, session_id: str) -> dict:
    return user.get(f"/api/chat/history?session_id={session_id}").json()


def switch(user: ChatUser, session_id: str, message_id: int):
    return user.http.put(
        f"{user.base_url}/api/chat/session/{session_id}/branch", json={"message_id": message_id}, timeout=10
    )


def contents(conversation: dict) -> list[str]:
    return [m["content"] for m in conversation["conversation"]]


def two_exchanges(user: ChatUser, model_id, fake_provider) -> tuple[str, list[dict]]:
    """A conversation q1 a1 q2 a2; returns its id and the start frames of both turns."""
    socket = user.socket()
    fake_provider.script(reply="a1")
    first = socket.chat("q1", model_id)[0]
    fake_provider.script(reply="a2")
    second = socket.chat("q2", model_id, session_id=first["session_id"])[0]
    socket.close()
    return first["session_id"], [first, second]


def regenerated(user: ChatUser, session_id: str, answer_id: int, reply: str, fake_provider) -> list[dict]:
    """The frames of a regenerate of the answer `answer_id`, answered with `reply`."""
    socket = user.socket()
    fake_provider.script(reply=reply)
    socket.send(type="regenerate", session_id=session_id, message_id=answer_id)
    frames = socket.receive_until_end()
    socket.close()
    return frames


def test_regenerating_a_middle_answer_branches_there_and_keeps_the_later_branch(chat, fake_provider):
    user = chat["user"]
    session_id, (first, _second) = two_exchanges(user, chat["model_id"], fake_provider)
    again = regenerated(user, session_id, first["message_id"], "a1, again", fake_provider)

    assert sent_context(fake_provider)[-1] == ("user", "q1"), "only what came before the answer"
    now = shown(user, session_id)
    assert contents(now) == ["q1", "a1, again"]
    question = next(node for node in now["tree"] if node["id"] == first["user_message_id"])
    assert question["children"] == [first["message_id"], again[0]["message_id"]]

    older = switch(user, session_id, first["message_id"])
    assert older.status_code == 200
    assert contents(older.json()) == ["q1", "a1", "q2", "a2"], "the later branch is reachable, whole"
    assert contents(shown(user, session_id)) == ["q1", "a1", "q2", "a2"], "and remembered"


def test_switching_the_branch_changes_the_context_the_model_is_sent(chat, fake_provider):
    user = chat["user"]
    session_id, (first, second) = two_exchanges(user, chat["model_id"], fake_provider)
    newer = regenerated(user, session_id, first["message_id"], "a1, again", fake_provider)[0]["message_id"]
    socket = user.socket()

    switch(user, session_id, second["message_id"]).raise_for_status()
    fake_provider.script(reply="a3")
    socket.chat("next?", chat["model_id"], session_id=session_id)
    assert [content for _, content in sent_context(fake_provider)] == ["q1", "a1", "q2", "a2", "next?"]
    assert contents(shown(user, session_id)) == ["q1", "a1", "q2", "a2", "next?", "a3"]

    switch(user, session_id, newer).raise_for_status()
    socket.chat("and now?", chat["model_id"], session_id=session_id)
    socket.close()
    assert [content for _, content in sent_context(fake_provider)] == ["q1", "a1, again", "and now?"]


def test_editing_an_earlier_question_makes_a_sibling_and_answers_it_from_there(chat, fake_provider):
    user = chat["user"]
    session_id, (first, _second) = two_exchanges(user, chat["model_id"], fake_provider)
    socket = user.socket()
    fake_provider.script(reply="better a1")
    edited = socket.chat(
        "q1, better", chat["model_id"], session_id=session_id, edit=True, message_id=first["user_message_id"]
    )
    socket.close()
    assert edited[-1]["type"] == "done"
    assert sent_context(fake_provider)[-1:] == [("user", "q1, better")]
    now = shown(user, session_id)
    assert contents(now) == ["q1, better", "better a1"]
    roots = [node["id"] for node in now["tree"] if node["parent_id"] is None]
    assert roots == [first["user_message_id"], edited[0]["user_message_id"]]


def test_an_edit_names_a_question_and_a_branch_a_message_of_the_users_own_conversation(chat, fake_provider):
    user, other = chat["user"], chat["admin"]
    session_id, (first, _second) = two_exchanges(user, chat["model_id"], fake_provider)
    socket = user.socket()
    socket.send(
        type="chat", message="x", model_id=chat["model_id"], session_id=session_id, edit=True, message_id=1 << 40
    )
    assert socket.receive()["code"] == "not_found"
    socket.send(
        type="chat", message="x", model_id=chat["model_id"], session_id=session_id, edit=True,
        message_id=first["message_id"],
    )  # fmt: skip
    assert socket.receive()["code"] == "nothing_to_regenerate"
    socket.close()
    assert switch(other, session_id, first["message_id"]).status_code == 404, "someone else's conversation"
    assert switch(user, session_id, 1 << 40).status_code == 404
    assert switch(user, session_id, "first").status_code == 400


def test_search_finds_text_in_every_branch_and_opening_a_hit_shows_its_branch(chat, fake_provider):
    user = chat["user"]
    session_id, (_first, second) = two_exchanges(user, chat["model_id"], fake_provider)
    regenerated(user, session_id, second["message_id"], "紫色的长颈鹿 purple giraffe", fake_provider)
    switch(user, session_id, second["message_id"]).raise_for_status()
    socket = user.socket()
    fake_provider.script(reply="a2 on the first branch")
    socket.chat("q3", chat["model_id"], session_id=session_id)
    socket.close()
    assert "purple giraffe" not in " ".join(contents(shown(user, session_id)))

    [hit] = user.get("/api/chat/search?q=长颈鹿").json()["results"]
    assert hit["session_id"] == session_id
    opened = switch(user, session_id, hit["message_id"]).json()
    assert contents(opened)[-1] == "紫色的长颈鹿 purple giraffe"


def test_export_and_import_keep_every_branch_and_the_branch_shown(chat, fake_provider, live_server):
    user = chat["user"]
    session_id, (first, second) = two_exchanges(user, chat["model_id"], fake_provider)
    regenerated(user, session_id, first["message_id"], "a1, again", fake_provider)
    switch(user, session_id, second["message_id"]).raise_for_status()
    exported = user.get(f"/api/chat/session/{session_id}/export?format=json").content

    copier = ChatUser.register(live_server.url, "copier")
    for _ in range(2):
        imported = copier.http.post(
            f"{live_server.url}/api/chat/import",
            data=exported,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert imported.status_code == 200, imported.text
    assert imported.json()["added"] == 0, "the second import adds nothing"
    [copy] = copier.get("/api/chat/history").json()["sessions"]
    mine, theirs = shown(user, session_id), shown(copier, copy["session_id"])
    assert contents(theirs) == contents(mine) == ["q1", "a1", "q2", "a2"]

    def shape(conversation: dict) -> list[tuple]:
        position = {node["id"]: index for index, node in enumerate(conversation["tree"])}
        return [
            (node["role"], position.get(node["parent_id"]), [position[c] for c in node["children"]])
            for node in conversation["tree"]
        ]

    assert shape(theirs) == shape(mine) and len(mine["tree"]) == 5
    markdown = user.get(f"/api/chat/session/{session_id}/export?format=md").text
    assert "a2" in markdown and "a1, again" not in markdown, "Markdown holds the branch shown"
    assert json.loads(exported)["conversations"][0]["selected_leaf_id"] == second["message_id"]
