"""Guessing an account's password is limited, but strangers can't lock its owner out (SECURITY.md
rule 9): the per-account total counts failures from anywhere, and once it is full only an address
that has not failed against that account gets in, and only with the right password."""

from __future__ import annotations

import pytest

from aihelper.web.client_address import address_key
from tests.fixtures.actions import login, register

WRONG = "not-the-password"


def from_address(app, address: str):
    """A client whose requests come from `address`, as a proxy-less server would see it."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def fill_the_account_bucket(app, username: str) -> None:
    """10 wrong passwords from each of 10 addresses: the default 100 per hour for the account."""
    for host in range(10):
        attacker = from_address(app, f"198.51.100.{host}")
        assert [login(attacker, username, WRONG).status_code for _ in range(10)] == [401] * 10


def test_strangers_who_fill_the_account_bucket_do_not_lock_the_owner_out(app, client):
    register(client, "the_admin")
    fill_the_account_bucket(app, "the_admin")
    owner = from_address(app, "203.0.113.7")
    response = login(owner, "the_admin")
    assert response.status_code == 200
    assert response.json["user"]["is_admin"] is True
    assert owner.get("/api/user/info").json["username"] == "the_admin"


def test_a_full_account_bucket_answers_a_wrong_password_from_anywhere_with_429(app, client):
    register(client, "guarded")
    fill_the_account_bucket(app, "guarded")
    refused = login(from_address(app, "203.0.113.8"), "guarded", WRONG)
    assert refused.status_code == 429
    assert refused.json["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600


def test_a_full_account_bucket_gives_each_address_one_guess_and_no_answer_after_it(app, client):
    register(client, "oracle")
    fill_the_account_bucket(app, "oracle")
    # An address that guessed before learns nothing more, not even from the right password.
    assert login(from_address(app, "198.51.100.3"), "oracle").status_code == 429
    # A new address gets one guess; after a wrong one, the right password is refused from it too.
    newcomer = from_address(app, "203.0.113.9")
    assert login(newcomer, "oracle", WRONG).status_code == 429
    assert login(newcomer, "oracle").status_code == 429
    assert newcomer.get("/api/user/info").status_code == 401


def test_guessing_from_one_address_stays_tightly_limited_whatever_the_password(app, client):
    register(client, "tight")
    guesser = from_address(app, "198.51.100.20")
    assert [login(guesser, "tight", WRONG).status_code for _ in range(10)] == [401] * 10
    assert login(guesser, "tight").status_code == 429
    # Other addresses are not affected by that one's guessing.
    assert login(from_address(app, "198.51.100.21"), "tight").status_code == 200


def test_create_admin_resets_the_accounts_login_limits(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_LOGIN_PER_ACCOUNT", "3 per 5 minutes")
    monkeypatch.setitem(app.config, "RATELIMIT_LOGIN_ACCOUNT_TOTAL", "9 per hour")
    register(client, "forgetful")
    owner = from_address(app, "203.0.113.10")
    # The owner mistyped from their own address, then strangers filled the account's bucket.
    assert [login(owner, "forgetful", WRONG).status_code for _ in range(3)] == [401] * 3
    for host in range(2):
        attacker = from_address(app, f"198.51.100.{host}")
        assert [login(attacker, "forgetful", WRONG).status_code for _ in range(3)] == [401] * 3
    assert login(owner, "forgetful").status_code == 429
    result = app.test_cli_runner().invoke(args=["create-admin", "forgetful"])
    assert result.exit_code == 0, result.output
    assert "login limits are reset" in result.output
    assert login(owner, "forgetful").status_code == 200


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("198.51.100.20", "198.51.100.20"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.20", "198.51.100.20"),
    ],
)
def test_an_ipv6_client_is_counted_by_its_64_and_an_ipv4_one_by_its_address(address, counted_as):
    assert address_key(address) == counted_as


def test_guessing_from_many_addresses_of_one_ipv6_64_counts_as_one_address(app, client, monkeypatch):
    # Only the per-account limits here: the per-address limit on every login is the next test's.
    monkeypatch.setitem(app.config, "RATELIMIT_LOGIN", "1000 per minute")
    register(client, "six")
    guesses = [login(from_address(app, f"2001:db8:1:2::{host:x}"), "six", WRONG).status_code for host in range(1, 11)]
    assert guesses == [401] * 10
    assert login(from_address(app, "2001:db8:1:2:ffff::1"), "six").status_code == 429
    # The next /64 is another client.
    assert login(from_address(app, "2001:db8:1:3::1"), "six").status_code == 200


def test_every_address_limit_counts_an_ipv6_client_by_its_64(app):
    registrations = [
        register(from_address(app, f"2001:db8:5:6::{host:x}"), f"ipv6_user{host}").status_code for host in range(1, 7)
    ]
    assert registrations == [201] * 5 + [429]
    assert register(from_address(app, "2001:db8:5:7::1"), "next_prefix").status_code == 201


def test_an_ipv4_client_seen_as_ipv4_mapped_ipv6_is_that_ipv4_client(app, client):
    register(client, "dual_stack")
    mapped = from_address(app, "::ffff:198.51.100.30")
    assert [login(mapped, "dual_stack", WRONG).status_code for _ in range(10)] == [401] * 10
    assert login(from_address(app, "198.51.100.30"), "dual_stack").status_code == 429
