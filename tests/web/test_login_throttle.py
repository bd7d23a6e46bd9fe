"""Failed logins back off per account and per address (429 with Retry-After), are written
to the audit log without the password, and never block other users.

The throttle's clock is injected: time moves when a test says so, nothing sleeps.
"""

import json
import re
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from webutil import PASSWORDS, running_server

from labelwise.store._models import Event
from labelwise.web._auth import COOKIE
from labelwise.web._throttle import LoginThrottle


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture()
def clock(app):
    c = Clock()
    app.state.login_throttle = LoginThrottle(clock=c)
    return c


def attempt(app, name, password, address="10.0.0.1"):
    client = TestClient(app, client=(address, 40000))
    return client.post("/api/login", json={"username": name, "password": password})


def failed_events(project) -> list[Event]:
    with project.session() as s:
        return list(s.scalars(select(Event).where(Event.kind == "user.login_failed")))


def test_after_five_free_failures_each_one_doubles_the_wait(app, clock):
    right = PASSWORDS["boss"]
    for _ in range(5):
        assert attempt(app, "boss", "wrong-password").status_code == 401
    # failures 6, 7, 8 lock the account for 1, 2 and 4 seconds (2 ** (n - 6))
    for wait in (1, 2, 4):
        assert attempt(app, "boss", "wrong-password").status_code == 401
        locked = attempt(app, "boss", right)  # the right password is refused too
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == str(wait)
        assert "try again in" in locked.json()["detail"]
        assert not locked.cookies.get(COOKIE)
        clock.now += wait - 0.01
        assert attempt(app, "boss", right).status_code == 429  # not yet
        clock.now += 0.01
    ok = attempt(app, "boss", right)
    assert ok.status_code == 200 and ok.cookies.get(COOKIE)
    # a success wipes the account's record: five free failures again
    for _ in range(5):
        assert attempt(app, "boss", "wrong-password").status_code == 401
    assert attempt(app, "boss", "wrong-password").status_code == 401
    assert attempt(app, "boss", right).status_code == 429


def test_the_wait_is_capped_and_old_failures_are_forgotten(app, clock):
    for _ in range(5 + 13):  # the 18th failure would lock 2 ** 12 s: capped at 300
        assert attempt(app, "rev", "wrong-password").status_code == 401
        clock.now += 300  # each lock has run out before the next guess
    clock.now -= 300  # back to just after the 18th failure
    assert attempt(app, "rev", "wrong-password").headers["retry-after"] == "300"
    clock.now += 3601  # an hour after the last failure it is forgotten
    assert attempt(app, "rev", PASSWORDS["rev"]).status_code == 200


def test_two_hundred_guesses_at_full_speed_get_six_password_checks(app, clock):
    codes = [attempt(app, "boss", f"guess-{i}").status_code for i in range(200)]
    assert codes == [401] * 6 + [429] * 194
    assert len(failed_events(app.state.project)) == 6  # a refused guess is not even checked


def test_a_locked_account_stays_locked_from_every_address_and_others_are_free(app, clock):
    for i in range(6):
        attempt(app, "boss", "wrong-password", address=f"10.0.1.{i}")
    assert attempt(app, "boss", PASSWORDS["boss"], address="10.9.9.9").status_code == 429
    assert attempt(app, "rev", PASSWORDS["rev"], address="10.0.1.0").status_code == 200


def test_one_address_guessing_many_accounts_backs_off(app, clock):
    # 20 failures free per address (4 per made-up name: no account is locked)
    for i in range(21):
        assert attempt(app, f"nobody{i // 4}", "wrong-password").status_code == 401
    blocked = attempt(app, "boss", PASSWORDS["boss"])
    assert blocked.status_code == 429 and blocked.headers["retry-after"] == "1"
    assert attempt(app, "boss", PASSWORDS["boss"], address="10.0.0.2").status_code == 200


def test_failed_logins_are_audited_with_the_typed_name_and_address_never_the_password(app, clock):
    long_name = "mallory-" + "x" * 150  # the form allows 200
    attempt(app, "boss", "SECRET-GUESS-1", address="192.0.2.7")
    attempt(app, long_name, "SECRET-GUESS-2", address="192.0.2.8")
    attempt(app, "boss", PASSWORDS["boss"], address="192.0.2.9")  # a success: not a failure
    events = failed_events(app.state.project)
    assert [(e.payload["name"], e.payload["address"], e.actor) for e in events] == [
        ("boss", "192.0.2.7", None),
        (long_name[:64], "192.0.2.8", None),
    ]
    with app.state.project.session() as s:
        everything = json.dumps([e.payload for e in s.scalars(select(Event))])
    assert "SECRET-GUESS" not in everything and PASSWORDS["boss"] not in everything


def test_the_sixth_failure_records_the_lock_it_started(app, clock):
    for _ in range(6):
        attempt(app, "ann", "wrong-password")
    events = failed_events(app.state.project)
    assert [e.payload.get("locked_s") for e in events] == [None] * 5 + [1.0]


def test_the_login_form_is_throttled_too(app, clock):
    c = TestClient(app, client=("10.0.0.5", 40000))

    def form(password):
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        data = {"username": "boss", "password": password, "csrf_token": token, "next": "/"}
        return c.post("/login", data=data, follow_redirects=False)

    for _ in range(6):
        assert form("wrong-password").status_code == 401
    r = form(PASSWORDS["boss"])
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert "try again in 1 s" in r.text and not r.cookies.get(COOKIE)
    clock.now += 1
    assert form(PASSWORDS["boss"]).status_code == 303


def test_a_slow_password_check_blocks_neither_other_users_nor_the_event_loop(app, monkeypatch):
    """argon2 runs in the thread pool; a second attempt on the same account is refused at
    once instead of starting a second hash (parallel guessers get one hash at a time)."""
    from argon2 import PasswordHasher

    with running_server(app) as base:
        rev = httpx.Client(base_url=base, timeout=10)
        assert rev.post("/api/login", json={"username": "rev", "password": "rev-pass-1"}).is_success
        entered, release = threading.Event(), threading.Event()
        real = PasswordHasher.verify

        def slow_verify(self, hash, password):
            entered.set()
            release.wait(20)
            return real(self, hash, password)

        monkeypatch.setattr(PasswordHasher, "verify", slow_verify)
        result = {}

        def login():
            with httpx.Client(base_url=base, timeout=30) as c:
                result["r"] = c.post("/api/login", json={"username": "boss", "password": "x" * 8})

        t = threading.Thread(target=login)
        t.start()
        try:
            assert entered.wait(10), "the login never reached the password check"
            start = time.monotonic()
            me = rev.get("/api/me")
            second = httpx.post(
                base + "/api/login", json={"username": "boss", "password": "y" * 8}, timeout=10
            )
            elapsed = time.monotonic() - start
        finally:
            release.set()
            t.join(30)
        assert me.status_code == 200 and me.json()["user"] == "rev"
        assert second.status_code == 429 and second.headers["retry-after"] == "1"
        assert elapsed < 5  # answered while the first check was still held
        assert result["r"].status_code == 401


def test_many_people_logging_in_at_once_from_one_address_wait_their_turn(app, web_project):
    from labelwise.annotate import add_user

    p, _ = web_project
    names = [f"office{i}" for i in range(8)]
    for name in names:
        add_user(p, name, f"{name}-pass", "annotator")
    app.state.login_throttle = LoginThrottle(concurrent=2)  # two argon2 checks at a time
    with running_server(app) as base:

        def login(name):
            with httpx.Client(base_url=base, timeout=60) as c:
                return c.post("/api/login", json={"username": name, "password": f"{name}-pass"})

        threads, results = [], {}
        for name in names:
            t = threading.Thread(target=lambda n=name: results.update({n: login(n)}))
            threads.append(t)
            t.start()
        for t in threads:
            t.join(90)
    assert {n: r.status_code for n, r in results.items()} == dict.fromkeys(names, 200)


def test_a_login_that_waits_too_long_for_a_check_slot_gets_429(app, monkeypatch):
    from argon2 import PasswordHasher

    app.state.login_throttle = LoginThrottle(concurrent=1, wait_s=0.3)
    entered, release = threading.Event(), threading.Event()
    real = PasswordHasher.verify

    def slow_verify(self, hash, password):
        entered.set()
        release.wait(20)
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", slow_verify)
    with running_server(app) as base:
        first = threading.Thread(
            target=lambda: httpx.post(
                base + "/api/login", json={"username": "boss", "password": "x" * 8}, timeout=30
            )
        )
        first.start()
        try:
            assert entered.wait(10)
            busy = httpx.post(
                base + "/api/login", json={"username": "ann", "password": "ann-pass-1"}, timeout=10
            )
        finally:
            release.set()
            first.join(30)
        assert busy.status_code == 429 and busy.headers["retry-after"] == "2"
        assert "busy" in busy.json()["detail"]
        again = httpx.post(
            base + "/api/login", json={"username": "ann", "password": "ann-pass-1"}, timeout=10
        )
        assert again.status_code == 200  # the refusal was no failure: nothing to back off
