"""The admin's usage dashboard data (issue #15 part 4): GET /api/admin/usage and its CSV read the
daily rollup by day, week, month, model, user and group, every day of the range present, each
currency apart, and the CSV opens safely in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from aihelper.extensions import db
from aihelper.models import ModelConfig, UsageDay
from tests.fixtures.actions import add_provider, make_admin_and_user
from tests.fixtures.records import user


def spent(
    app, user_id: int, day: str, model_id: str, messages: int, prompt: int, completion: int, cost=0.0, currency="USD"
):
    with app.app_context():
        db.session.add(
            UsageDay(
                day=date.fromisoformat(day),
                user_id=user_id,
                model_id=model_id,
                messages=messages,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost=cost,
                currency=currency,
            )
        )
        db.session.commit()


def add_model(admin, provider: dict, model_id: str, model_name: str) -> None:
    body = {"provider_id": provider["id"], "model_id": model_id, "model_name": model_name}
    assert admin.post("/api/admin/models", json=body).status_code == 201


def usage(admin, **query) -> list[dict]:
    response = admin.get("/api/admin/usage", query_string=query)
    assert response.status_code == 200, response.json
    return response.json["rows"]


def ids(admin) -> dict[str, int]:
    return {u["username"]: u["id"] for u in admin.get("/api/admin/users").json["users"]}


def test_use_over_time_has_every_day_of_the_range_and_adds_up_weeks_and_months(app):
    admin, _user = make_admin_and_user(app)
    bob = ids(admin)["user_bob"]
    spent(app, bob, "2026-11-29", "glm-4.5", 2, 100, 50, cost=0.5)
    spent(app, bob, "2026-12-01", "glm-4.5", 1, 10, 5, cost=0.25)
    spent(app, bob, "2026-12-01", "qwen3", 1, 1, 1, cost=0.125)

    days = usage(admin, **{"from": "2026-11-28", "to": "2026-12-01", "by": "day"})
    assert [(r["key"], r["messages"], r["prompt_tokens"], r["completion_tokens"], r["cost"]) for r in days] == [
        ("2026-11-28", 0, 0, 0, 0),
        ("2026-11-29", 2, 100, 50, 0.5),
        ("2026-11-30", 0, 0, 0, 0),
        ("2026-12-01", 2, 11, 6, 0.375),
    ]
    assert {r["currency"] for r in days} == {"USD"}
    weeks = usage(admin, **{"from": "2026-11-28", "to": "2026-12-01", "by": "week"})
    assert [(r["key"], r["label"], r["messages"]) for r in weeks] == [
        ("2026-11-23", "2026-W48", 2),
        ("2026-11-30", "2026-W49", 2),
    ]
    months = usage(admin, **{"from": "2026-11-01", "to": "2026-12-31", "by": "month"})
    assert [(r["key"], r["prompt_tokens"]) for r in months] == [("2026-11", 100), ("2026-12", 11)]


def test_each_currency_is_its_own_row_never_added_to_another(app):
    admin, _user = make_admin_and_user(app)
    bob = ids(admin)["user_bob"]
    spent(app, bob, "2026-12-01", "glm-4.5", 1, 10, 10, cost=1.0, currency="CNY")
    spent(app, bob, "2026-12-01", "gpt-4o", 1, 10, 10, cost=2.0)
    rows = usage(admin, **{"from": "2026-12-01", "to": "2026-12-01", "by": "model"})
    assert sorted((r["key"], r["cost"], r["currency"]) for r in rows) == [
        ("glm-4.5", 1.0, "CNY"),
        ("gpt-4o", 2.0, "USD"),
    ]


def test_by_model_user_and_group_name_each_row_and_put_the_biggest_first(app):
    admin, _user = make_admin_and_user(app)
    _carol_client, carol = user(app, "carol")
    people = ids(admin)
    provider = add_provider(admin, "https://api.example.com/v1")
    admin.post(
        "/api/admin/models", json={"provider_id": provider["id"], "model_id": "glm-4.5", "model_name": "GLM 4.5"}
    )
    staff = admin.post("/api/admin/groups", json={"name": "Staff"}).json
    pilots = admin.post("/api/admin/groups", json={"name": "Pilots"}).json
    admin.put(f"/api/admin/users/{carol}", json={"groups": [staff["id"], pilots["id"]]})
    spent(app, people["user_bob"], "2026-12-01", "glm-4.5", 1, 10, 0)
    spent(app, carol, "2026-12-01", "glm-4.5", 3, 300, 30)
    spent(app, carol, "2026-12-01", "", 0, 5, 5)  # a title whose model is not known

    by_model = usage(admin, **{"from": "2026-12-01", "to": "2026-12-01", "by": "model"})
    assert [(r["key"], r["label"], r["messages"]) for r in by_model] == [
        ("glm-4.5", "GLM 4.5", 4),
        ("", "（未知模型）", 0),
    ]
    by_user = usage(admin, **{"from": "2026-12-01", "to": "2026-12-01", "by": "user"})
    assert [(r["key"], r["label"]) for r in by_user] == [(str(carol), "carol"), (str(people["user_bob"]), "user_bob")]
    by_group = usage(admin, **{"from": "2026-12-01", "to": "2026-12-01", "by": "group"})
    assert {(r["label"], r["prompt_tokens"]) for r in by_group} == {("Staff", 305), ("Pilots", 305), ("（无分组）", 10)}
    assert next(r for r in by_group if r["label"] == "（无分组）")["key"] == "none"


def test_the_csv_has_the_same_rows_and_never_a_formula(app):
    admin, _user = make_admin_and_user(app)
    provider = add_provider(admin, "https://api.example.com/v1")
    admin.post(
        "/api/admin/models", json={"provider_id": provider["id"], "model_id": "m1", "model_name": "=HYPERLINK(1)"}
    )
    spent(app, ids(admin)["user_bob"], "2026-12-01", "m1", 1, 7, 3, 0.01)
    response = admin.get("/api/admin/usage.csv?from=2026-12-01&to=2026-12-01&by=model")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="usage-model-2026-12-01-2026-12-01.csv"'
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert table == [
        ["key", "label", "messages", "prompt_tokens", "completion_tokens", "cost", "currency"],
        ["m1", "'=HYPERLINK(1)", "1", "7", "3", "0.01", "USD"],
    ]


def test_a_query_the_dashboard_cannot_answer_is_refused(app):
    admin, user_client = make_admin_and_user(app)
    assert admin.get("/api/admin/usage?by=year").json["code"] == "invalid_usage_by"
    assert admin.get("/api/admin/usage?from=2026-12-02&to=2026-12-01").json["code"] == "invalid_range"
    assert admin.get("/api/admin/usage?from=yesterday").json["code"] == "invalid_time"
    assert admin.get("/api/admin/usage?since=2026-12-01").json["code"] == "unknown_field"
    assert user_client.get("/api/admin/usage").status_code == 403
    assert user_client.get("/api/admin/usage.csv").status_code == 403


def test_without_a_range_the_last_thirty_days_until_today_are_shown(app):
    admin, _user = make_admin_and_user(app)
    rows = usage(admin)
    assert len(rows) == 30 and rows[-1]["key"] == datetime.now(UTC).date().isoformat()


def test_a_model_known_under_two_providers_is_labelled_once(app):
    admin, _user = make_admin_and_user(app)
    for name in ("A", "B"):
        provider = add_provider(admin, f"https://{name.lower()}.example.com/v1", name=name)
        admin.post(
            "/api/admin/models",
            json={"provider_id": provider["id"], "model_id": "shared", "model_name": f"Shared {name}"},
        )
    spent(app, ids(admin)["user_bob"], "2026-12-01", "shared", 1, 1, 1)
    rows = usage(admin, **{"from": "2026-12-01", "to": "2026-12-01", "by": "model"})
    assert len(rows) == 1 and rows[0]["label"] in ("Shared A", "Shared B")
    with app.app_context():
        assert db.session.query(ModelConfig).count() == 2


def test_a_deleted_users_use_stays_counted_under_their_former_id(app):
    admin, _user = make_admin_and_user(app)
    bob = ids(admin)["user_bob"]
    spent(app, bob, "2026-12-01", "glm-4.5", 2, 20, 10, cost=0.5)
    assert admin.delete(f"/api/admin/users/{bob}").status_code == 200
    span = {"from": "2026-12-01", "to": "2026-12-01"}
    assert [(r["label"], r["messages"]) for r in usage(admin, **span, by="user")] == [(f"（已删除的用户 #{bob}）", 2)]
    assert usage(admin, **span, by="day")[0]["cost"] == 0.5


def test_dates_are_the_rollups_days_whatever_the_time_zone(app):
    admin, _user = make_admin_and_user(app)
    for zone in ("Asia/Shanghai", "America/New_York", "UTC"):
        rows = usage(admin, **{"from": "2026-03-01", "to": "2026-03-31", "by": "day", "tz": zone})
        assert (len(rows), rows[0]["key"], rows[-1]["key"]) == (31, "2026-03-01", "2026-03-31"), zone
    assert admin.get("/api/admin/usage?tz=Mars/Olympus").json["code"] == "invalid_timezone"
