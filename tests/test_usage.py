"""Every answer records what it used and cost (issue #15 part 1): the provider's tokens, or an
estimate marked as such when it sends none; the cost at the model's price of that day, which a
later price never rewrites; a generated title counted as its owner's usage; and the daily rollup
added to exactly, however many answers are stored at once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, update

from aihelper.extensions import db
from aihelper.llm.sse import normalise_usage
from aihelper.models import ChatSession, UsageDay
from aihelper.services import retention, usage
from aihelper.services.usage import Price, Usage
from tests.fixtures.actions import stored, wait_for
from tests.fixtures.records import at, user


def rollup(app, user_id: int) -> list[tuple[str, int, int, int, float, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(
                UsageDay.model_id,
                UsageDay.messages,
                UsageDay.prompt_tokens,
                UsageDay.completion_tokens,
                UsageDay.cost,
                UsageDay.currency,
            ).where(UsageDay.user_id == user_id)
        ).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def priced(chat, price_input: float, price_output: float, currency: str = "CNY") -> None:
    admin, model = chat["admin"], chat["model"]
    changed = admin.http.put(
        f"{admin.base_url}/api/admin/models/{model['id']}",
        json={"price_input": price_input, "price_output": price_output, "currency": currency},
    )
    assert changed.status_code == 200, changed.text


def answered(chat, message: str = "hello") -> dict:
    socket = chat["user"].socket()
    frames = socket.chat(message, chat["model_id"])
    socket.close()
    return frames[-1]


def user_id_of(app, name: str) -> int:
    from aihelper.models import User

    with app.app_context():
        found = db.session.scalar(select(User.id).where(User.username == name))
        db.session.remove()
    return found


def test_an_answer_and_its_title_keep_the_providers_tokens_and_cost_at_the_models_price(chat, app, fake_provider):
    priced(chat, 2.0, 8.0)
    # The fake provider answers the title request (a new conversation's) with the same usage.
    fake_provider.script(reply="four tokens here", usage={"prompt_tokens": 1200, "completion_tokens": 300})
    done = answered(chat)
    assert done["usage"] == {"prompt_tokens": 1200, "completion_tokens": 300}
    [answer] = stored(app, role="assistant")
    one = (1200 * 2.0 + 300 * 8.0) / 1_000_000
    assert (answer.prompt_tokens, answer.completion_tokens, answer.usage_estimated) == (1200, 300, False)
    assert (answer.cost, answer.currency) == (pytest.approx(one), "CNY")
    owner = user_id_of(app, "streamer")
    wait_for(lambda: rollup(app, owner)[0][2] == 2400, timeout=15)  # and the title's tokens
    assert rollup(app, owner) == [("fake-model", 1, 2400, 600, pytest.approx(2 * one), "CNY")]


def test_without_the_providers_usage_the_tokens_are_estimated_and_marked_so(chat, app, fake_provider):
    priced(chat, 1.0, 1.0, "USD")
    fake_provider.script(reply="你好世界 hello world", usage=False)
    answered(chat, "请问今天天气怎么样")
    [answer] = stored(app, role="assistant")
    assert answer.usage_estimated is True
    # Four CJK characters, then " hello world": 12 characters, 3 tokens.
    assert answer.completion_tokens == 4 + 3
    assert answer.prompt_tokens >= len("请问今天天气怎么样")  # and the system prompt, and framing
    assert answer.cost == pytest.approx((answer.prompt_tokens + answer.completion_tokens) / 1_000_000)


def test_a_later_price_never_rewrites_what_an_answer_cost(chat, app, fake_provider):
    priced(chat, 10.0, 10.0, "USD")
    fake_provider.script(reply="first", usage={"prompt_tokens": 100, "completion_tokens": 100})
    answered(chat)
    owner = user_id_of(app, "streamer")
    wait_for(lambda: rollup(app, owner)[0][2] == 200, timeout=15)  # the title's too
    priced(chat, 1000.0, 1000.0, "USD")
    [answer] = stored(app, role="assistant")
    assert answer.cost == pytest.approx(200 * 10.0 / 1_000_000)
    assert rollup(app, owner)[0][4] == pytest.approx(400 * 10.0 / 1_000_000)


def test_the_rollup_adds_exactly_when_many_answers_are_stored_at_once(app):
    _client, owner = user(app, "busy")
    spent = Usage(3, 7, estimated=False)
    price = Price(1.0, 2.0, "USD")

    def add_many() -> None:
        with app.app_context():
            for _ in range(25):
                with db.engine.begin() as connection:
                    usage.add_to_rollup(
                        connection, user_id=owner, model_id="m", answers=1, **usage.Spent.of(spent, price).counted()
                    )
            db.session.remove()

    threads = [threading.Thread(target=add_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rollup(app, owner) == [("m", 200, 600, 1400, pytest.approx(200 * 17 / 1_000_000), "USD")]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("abcd", 1),
        ("abcde", 2),
        ("你好", 2),
        ("你好 abcd", 2 + 2),
        ("こんにちは", 5),
        ("안녕", 2),
        ("привет", 4),  # 12 bytes
        ("😀", 2),  # 4 bytes
    ],
)
def test_an_estimate_counts_a_token_per_four_ascii_characters_and_per_three_other_bytes(text, tokens):
    assert usage.estimated_tokens(text) == tokens


@pytest.mark.parametrize(
    ("reported", "counted"),
    [
        ({"prompt_tokens": 30, "completion_tokens": 70}, {"prompt_tokens": 30, "completion_tokens": 70}),
        ({"prompt_tokens": 30, "total_tokens": 100}, {"prompt_tokens": 30, "completion_tokens": 70}),
        ({"completion_tokens": 70, "total_tokens": 100}, {"prompt_tokens": 30, "completion_tokens": 70}),
        # Reasoning left out of completion_tokens but not out of the total.
        (
            {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 40},
            {"prompt_tokens": 10, "completion_tokens": 30},
        ),
        ({"total_tokens": 100}, None),
        ({"prompt_tokens": "many", "completion_tokens": 5}, None),
    ],
)
def test_a_providers_usage_is_read_whole_even_when_one_count_is_left_out(reported, counted):
    assert normalise_usage(reported) == counted


def test_a_usage_of_nothing_for_an_answer_with_text_is_not_believed():
    assert usage.usage_of({"prompt_tokens": 0, "completion_tokens": 0}, {}, "some text").estimated is True
    assert usage.usage_of({"prompt_tokens": 0, "completion_tokens": 0}, {}, "").estimated is False


def test_an_answer_whose_conversation_was_deleted_meanwhile_still_counts(chat, app, fake_provider):
    fake_provider.script(tokens=[f"t{i} " for i in range(200)], token_delay=0.02, usage=False)
    socket = chat["user"].socket()
    socket.send(type="chat", message="talk", model_id=chat["model_id"], session_id=None)
    start = socket.receive()
    socket.receive()  # a delta: the provider is answering
    assert chat["user"].http.delete(f"{chat['user'].base_url}/api/chat/session/{start['session_id']}").ok
    socket.receive_until_end()
    socket.close()
    owner = user_id_of(app, "streamer")
    wait_for(lambda: rollup(app, owner))
    [(model_id, answers, _prompt, completion, _cost, _currency)] = rollup(app, owner)
    assert (model_id, answers) == ("fake-model", 1) and completion > 0


def test_prices_and_currency_are_checked(chat):
    admin, model = chat["admin"], chat["model"]
    for body, code in (
        ({"price_input": -1}, "out_of_range"),
        ({"price_output": "cheap"}, "out_of_range"),
        ({"currency": "dollars"}, "invalid_field"),
    ):
        response = admin.http.put(f"{admin.base_url}/api/admin/models/{model['id']}", json=body)
        assert response.json()["code"] == code, body
    lower = admin.http.put(f"{admin.base_url}/api/admin/models/{model['id']}", json={"currency": "cny"})
    assert lower.json()["currency"] == "CNY"


def test_the_rollup_keeps_what_was_generated_here_through_imports_deletes_and_retention(chat, app, fake_provider):
    """The rollup is what the keys were spent on: deleting a conversation, or retention, never
    takes usage back (or deleting would reset a quota), and an import adds none (its answers were
    not generated here)."""
    user, admin = chat["user"], chat["admin"]
    fake_provider.script(reply="counted", usage={"prompt_tokens": 7, "completion_tokens": 5})
    sessions = [answered(chat, f"question {n}")["session_id"] for n in range(2)]
    owner = user_id_of(app, "streamer")
    # Each conversation: its answer and its generated title, 12 tokens each.
    wait_for(lambda: sum(row[2] + row[3] for row in rollup(app, owner)) == 48)
    generated = sorted(rollup(app, owner))

    document = {
        "format": "aihelper-conversations",
        "version": 1,
        "conversations": [
            {
                "session_id": "imported-1",
                "title": "from elsewhere",
                "messages": [
                    {"role": "user", "content": "old question", "timestamp": "2026-01-01T00:00:00"},
                    {"role": "assistant", "content": "old answer", "timestamp": "2026-01-01T00:00:05"},
                ],
            }
        ],
    }
    assert user.http.post(f"{user.base_url}/api/chat/import", json=document).status_code == 200
    assert user.http.delete(f"{user.base_url}/api/chat/session/{sessions[0]}").status_code == 200
    admin.http.put(f"{admin.base_url}/api/admin/settings", json={"retention_days": 1})
    with app.app_context():
        db.session.execute(
            update(ChatSession)
            .where(ChatSession.session_id == sessions[1])
            .values(update_time=at("2020-01-01T00:00:00"))
        )
        db.session.commit()
        assert retention.purge_expired() == 2  # the aged conversation and the import (of January)
        db.session.remove()

    assert sorted(rollup(app, owner)) == generated
    assert sum(row[1] for row in generated) == 2, "two answers, titles count no message"
