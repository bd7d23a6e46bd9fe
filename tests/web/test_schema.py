"""Every JSON API operation, fuzzed from /openapi.json with an admin session: no 5xx.

Schemathesis generates valid and invalid inputs from the OpenAPI schema of the app
running in process; a 5xx is a bug (a user error must be a 4xx with a message).
Derandomized and with few examples per operation, so CI sees the same inputs every run.

The test drives schemathesis through its documented Python API (each operation's
Hypothesis strategy, run by a plain ``@given`` test), not its pytest plugin: the plugin
rewrites pytest's private node attributes and breaks with new pytest releases.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from webutil import make_project

from labelwise import annotate
from labelwise.annotate import open_session, session_user
from labelwise.errors import AuthError
from labelwise.web._auth import COOKIE, CSRF_HEADER

MAX_EXAMPLES = 8


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """One project for every operation: the fuzzer's writes pile up as a real admin's would.

    Forty of the sixty queued samples are labeled first, so training, review, quality and
    label issues have data to work on; twenty stay open for submit and skip.
    """
    from labelwise.web import create_app

    p, truth = make_project(tmp_path_factory.mktemp("fuzz") / "proj")
    app = create_app(p)
    for _ in range(40):
        item = annotate.next_item(p, "ann")
        uid = int(item["sample"]["uid"][1:])
        annotate.submit(p, "ann", item["assignment"]["id"], str(truth[uid]))
    yield app
    p.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def admin_session(fuzz_app):
    """``get()`` -> (cookie token, CSRF token) of a live admin session.

    A fuzzed call may end it (``POST /api/logout``, a PATCH of boss); then boss is made an
    active admin again and a new session opens, without the cost of a password check.
    """
    project = fuzz_app.state.project
    current: dict = {}

    def get():
        try:
            session_user(project, current.get("token"))
        except AuthError:
            boss = annotate.update_user(project, "boss", role="admin", active=True)
            current["token"], info = open_session(project, boss)
            current["csrf"] = info.csrf
        return current["token"], current["csrf"]

    return get


FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def operations(schema) -> list:
    """Every operation of the schema (``get_all_operations`` yields ``Ok`` or ``Err``)."""
    ops, invalid = [], []
    for result in schema.get_all_operations():
        if hasattr(result, "err"):
            invalid.append(str(result.err()))
        else:
            ops.append(result.ok())
    assert not invalid, f"/openapi.json describes operations wrongly: {invalid}"
    return ops


def test_no_operation_answers_with_a_server_error(api_schema, admin_session):
    ops = operations(api_schema)
    assert len(ops) >= 20, f"only {len(ops)} operations in /openapi.json"
    problems, without_invalid = [], []
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ_SETTINGS
            @given(case=op.as_strategy(generation_mode=mode))
            def fuzz(case):
                token, csrf = admin_session()
                case.call_and_validate(
                    headers={CSRF_HEADER: csrf},
                    cookies={COOKIE: token},
                    checks=[not_a_server_error],
                )

            try:
                fuzz()
            except Unsatisfiable:
                # no parameters and no body: there is no invalid input to send
                if mode is GenerationMode.POSITIVE:
                    problems.append(f"{op.label}: no valid input could be generated")
                else:
                    without_invalid.append(op.label)
            except Exception as exc:  # every failing operation is reported, not the first
                problems.append(f"{op.label} ({mode.value} inputs): {exc}")
    assert not problems, "\n\n".join(problems)
    # most operations take input: invalid inputs must have been sent to them
    assert len(without_invalid) < len(ops) / 2, f"no invalid inputs for {without_invalid}"


NUL = "a\x00b"
NUL_INPUTS = [  # (who, method, url, request keywords)
    (None, "POST", "/api/login", {"json": {"username": NUL, "password": "x"}}),
    ("boss", "POST", "/api/classes", {"json": {"name": NUL}}),
    ("boss", "POST", "/api/classes/rename", {"json": {"old": NUL, "new": "z"}}),
    (
        "boss",
        "POST",
        "/api/users",
        {"json": {"name": NUL, "password": "long-enough", "role": "annotator"}},
    ),
    ("boss", "PATCH", "/api/users/a%00b", {"json": {"active": True}}),
    ("boss", "POST", "/api/gold", {"json": {"answers": {NUL: "1"}}}),
    ("boss", "POST", "/api/queue/assign", {"json": {"annotators": [NUL]}}),
    ("boss", "GET", "/api/explorer?q=a%00b", {}),
    ("boss", "GET", "/explorer?label=a%00b", {}),
    ("boss", "GET", "/media/files/a%00b", {}),
    ("ann", "POST", "/api/submit", {"json": {"assignment_id": 1, "label": NUL}}),
]


def test_a_null_byte_in_any_text_is_never_a_server_error(backend, db, request, tmp_path):
    """SQLite stores NUL; PostgreSQL refuses it. Either way the user gets a 4xx (or it works)."""
    from fastapi.testclient import TestClient
    from webutil import login

    from labelwise.web import create_app

    p, _ = make_project(tmp_path / "proj", db=db(), n=60, batch=10)
    app = create_app(p)
    clients = {None: TestClient(app, raise_server_exceptions=False)}
    for name in ("boss", "ann"):
        c = login(app, name)
        clients[name] = TestClient(
            app, raise_server_exceptions=False, cookies=c.cookies, headers=c.headers
        )
    clients["ann"].get("/api/next")
    problems = []
    for who, method, url, kw in NUL_INPUTS:
        r = clients[who].request(method, url, **kw)
        if r.status_code >= 500:
            problems.append(f"{method} {url} {kw}: {r.status_code}")
    p.close()
    assert not problems, "\n".join(problems)
