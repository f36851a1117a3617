"""Importing ChatGPT's export: its `conversations.json`, alone or in its zip, with its branches,
into the user's history, once."""

from __future__ import annotations

import io
import json
import zipfile

from aihelper.services import import_chatgpt
from tests.fixtures.records import user

MAY_FIRST = 1_746_057_600.25  # 2025-05-01T00:00:00.25Z, as ChatGPT writes times


def node(key: str, parent: str | None, children: list[str], message: dict | None) -> tuple[str, dict]:
    return key, {"id": key, "message": message, "parent": parent, "children": children}


def said(role: str, text: str | list, seconds: float, **extra) -> dict:
    parts = text if isinstance(text, list) else [text]
    content_type = "multimodal_text" if isinstance(text, list) else "text"
    return {
        "id": f"m-{seconds}",
        "author": {"role": role, "name": None, "metadata": {}},
        "create_time": MAY_FIRST + seconds,
        "content": {"content_type": content_type, "parts": parts},
        "status": "finished_successfully",
        "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
        "recipient": "all",
        **extra,
    }


def chatgpt_export() -> bytes:
    """One conversation as ChatGPT writes it: a hidden system root, a question answered twice
    (regenerated), the first answer's branch going on with a tool call in between, a question
    edited, and `current_node` on the second answer's branch."""
    mapping = dict(
        [
            node("root", None, ["system"], None),
            node(
                "system", "root", ["q1"], said("system", "", 0, metadata={"is_visually_hidden_from_conversation": True})
            ),
            node("q1", "system", ["a1", "a1b"], said("user", "什么是递归？", 1)),
            node("a1", "q1", ["q2"], said("assistant", "递归是函数调用自身。", 2)),
            node("a1b", "q1", ["q2b"], said("assistant", "A function calling itself.", 3)),
            node("q2", "a1", ["tool"], said("user", ["Show an example", {"content_type": "image_asset_pointer"}], 4)),
            node("tool", "q2", ["tool-result"], said("assistant", "print(1)", 5, recipient="python")),
            node("tool-result", "tool", ["a2"], said("tool", "1", 6)),
            node("a2", "tool-result", [], said("assistant", "def f(n): return f(n - 1)", 7)),
            node("q2b", "a1b", ["a2b"], said("user", "In English please", 8)),
            node("a2b", "q2b", [], said("assistant", "Recursion: see recursion.", 9)),
        ]
    )
    conversation = {
        "title": "递归",
        "create_time": MAY_FIRST,
        "update_time": MAY_FIRST + 9,
        "mapping": mapping,
        "current_node": "a2b",
        "conversation_id": "6814e4c2-0000-8000-9000-000000000001",
        "id": "6814e4c2-0000-8000-9000-000000000001",
        "default_model_slug": "gpt-4o",
        "moderation_results": [],
    }
    return json.dumps([conversation], ensure_ascii=False).encode()


def imported(client, body: bytes, content_type: str = "application/json"):
    if content_type == "application/zip":
        return client.post(
            "/api/chat/import", data={"file": (io.BytesIO(body), "chatgpt.zip")}, content_type="multipart/form-data"
        )
    return client.post("/api/chat/import", data=body, content_type=content_type)


def test_a_chatgpt_export_imports_with_its_branches_once(app):
    client, _ = user(app, "from_chatgpt")
    first = imported(client, chatgpt_export())
    assert first.status_code == 200, first.json
    assert (first.json["added"], first.json["skipped"]) == (1, 0)
    again = imported(client, chatgpt_export())
    assert (again.json["added"], again.json["skipped"]) == (0, 1), "a second import adds nothing"

    [session] = client.get("/api/chat/history").json["sessions"]
    assert session["title"] == "递归"
    opened = client.get(f"/api/chat/history?session_id={session['session_id']}").json
    assert [(m["role"], m["content"]) for m in opened["conversation"]] == [
        ("user", "什么是递归？"),
        ("assistant", "A function calling itself."),
        ("user", "In English please"),
        ("assistant", "Recursion: see recursion."),
    ], "the branch ChatGPT showed, without system prompt"
    assert opened["conversation"][1]["model_id"] == "gpt-4o"
    assert opened["create_time"] == "2025-05-01T00:00:00+00:00"

    tree = {node["id"]: node for node in opened["tree"]}
    question = opened["conversation"][0]["id"]
    assert len(tree) == 7, "tool calls and their results are left out"
    first_answer, _ = tree[question]["children"]
    [follow_up] = tree[first_answer]["children"]
    [answer] = tree[follow_up]["children"]
    switched = client.put(f"/api/chat/session/{session['session_id']}/branch", json={"message_id": answer}).json
    assert [m["content"] for m in switched["conversation"]] == [
        "什么是递归？",
        "递归是函数调用自身。",
        "Show an example",
        "def f(n): return f(n - 1)",
    ], "the other branch, the answer after the tool call following its question"


def test_the_zip_chatgpt_gives_imports_too(app):
    client, _ = user(app, "zip_from_chatgpt")
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", chatgpt_export())
        archive.writestr("chat.html", "<html></html>")
        archive.writestr("file-abc.png", b"\x89PNG")
    response = imported(client, packed.getvalue(), "application/zip")
    assert response.status_code == 200, response.json
    assert response.json["added"] == 1


def test_a_list_that_is_not_chatgpts_export_is_refused_naming_the_place(app):
    client, _ = user(app, "not_chatgpt")
    response = imported(client, json.dumps([{"title": "no mapping"}]).encode())
    assert response.status_code == 400
    assert response.json["code"] == "import_invalid"
    assert "[0]" in response.json["error"]
    assert client.get("/api/chat/history").json["sessions"] == []


def test_an_overlong_chatgpt_question_is_cut_and_says_so(app):
    client, _ = user(app, "long_question")
    document = json.loads(chatgpt_export())
    limit = app.config["AIHELPER_MAX_MESSAGE_CHARS"]
    document[0]["mapping"]["q2b"]["message"]["content"]["parts"] = ["x" * (limit + 10)]
    response = imported(client, json.dumps(document).encode())
    assert response.status_code == 200, response.json
    [session] = client.get("/api/chat/history").json["sessions"]
    question = client.get(f"/api/chat/history?session_id={session['session_id']}").json["conversation"][2]
    assert len(question["content"]) == limit and question["content"].endswith("[…]")


def test_a_malformed_parent_is_a_root_and_a_child_named_many_times_is_read_once(app):
    client, _ = user(app, "odd_chatgpt")
    document = json.loads(chatgpt_export())
    mapping = document[0]["mapping"]
    mapping["root"]["parent"] = ["not", "a", "key"]
    mapping["q1"]["children"] = ["a1", "a1b"] * 5_000  # a fan-out: one node listed again and again
    response = imported(client, json.dumps(document).encode())
    assert response.status_code == 200, response.json
    [session] = client.get("/api/chat/history").json["sessions"]
    tree = client.get(f"/api/chat/history?session_id={session['session_id']}").json["tree"]
    assert len(tree) == 7, "each message once"


def test_a_file_of_more_nodes_than_any_export_holds_is_refused(app, monkeypatch):
    client, _ = user(app, "many_nodes")
    monkeypatch.setattr(import_chatgpt, "NODES_MAX", 10)
    response = imported(client, chatgpt_export())
    assert (response.status_code, response.json["code"]) == (400, "import_invalid")
    assert client.get("/api/chat/history").json["sessions"] == []
