"""Request limits: bodies over the cap get 413 before they are read whole, and a 422
names the invalid fields without echoing what was sent."""

import json
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest
from fastapi.testclient import TestClient

from labelwise.web._limits import MAX_BODY_BYTES

SECRET = "SECRET-Pa55word-never-echoed"


def test_a_declared_body_over_the_cap_is_refused_with_413(app):
    anon = TestClient(app)
    big = b'{"username": "boss", "password": "' + b"x" * MAX_BODY_BYTES + b'"}'
    for path in ("/api/login", "/login", "/api/users"):
        r = anon.post(path, content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413, path
        assert "larger than 1 MiB" in r.json()["detail"]
        assert r.headers["x-content-type-options"] == "nosniff"  # inside the header middleware


def call_streaming(app, path: str, chunks: int, chunk: bytes):
    """POST ``chunks`` chunks of ``chunk`` with no Content-Length, as a streaming client does;
    returns (status, body, how many chunks the app pulled)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    pulled, sent = 0, []

    async def receive():
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < chunks}

    async def send(message):
        sent.append(message)

    with ThreadPoolExecutor(1) as pool:  # a browser test's event loop may hold this thread
        pool.submit(anyio.run, app, scope, receive, send).result()
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body, pulled


def test_a_streamed_body_is_cut_off_at_the_cap_not_read_whole(app):
    chunk = b" " * 65536
    # 100 MB announced by nothing: the app stops pulling just past 1 MiB (16 chunks)
    status, body, pulled = call_streaming(app, "/api/login", chunks=1600, chunk=chunk)
    assert status == 413 and b"larger than 1 MiB" in body
    assert pulled == MAX_BODY_BYTES // len(chunk) + 1
    # under the cap the same route reads the whole body (and finds it is not JSON)
    status, _, pulled = call_streaming(app, "/api/login", chunks=4, chunk=chunk)
    assert (status, pulled) == (422, 4)


def test_the_gold_route_takes_a_long_list(app, as_user):
    boss = as_user("boss")
    uids = [f"no-such-sample-{i:07d}" for i in range(60_000)]  # about 1.5 MB
    body = json.dumps({"from_labels": uids})
    assert len(body) > MAX_BODY_BYTES
    r = boss.post("/api/gold", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "no-such-sample-0000000" in r.json()["detail"]


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/login", {"username": "boss", "password": [SECRET]}),  # wrong type
        ("/api/login", {"username": "boss", "password": SECRET * 40}),  # too long
        ("/api/login", {"username": "boss", "password": "x", "note": SECRET}),  # unknown key
        ("/api/users", {"name": "eve", "password": SECRET[:7], "role": "annotator"}),  # short
        ("/api/users", {"name": "eve", "password": SECRET, "role": SECRET}),  # not a role
    ],
)
def test_a_422_names_the_field_and_never_echoes_the_value(app, as_user, path, body):
    client = as_user("boss") if path == "/api/users" else TestClient(app)
    r = client.post(path, json=body)
    assert r.status_code == 422
    assert SECRET[:7] not in r.text
    detail = r.json()["detail"]
    assert detail and all(set(d) == {"loc", "msg", "type"} for d in detail)
    bad = {k for k, v in body.items() if SECRET[:7] in json.dumps(v)} | {"note"}
    assert any(d["loc"][-1] in bad for d in detail), detail


def test_a_422_for_invalid_json_does_not_echo_it_either(app):
    r = TestClient(app).post(
        "/api/login",
        content='{"username": "boss", "password": "' + SECRET + '"',  # cut short
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422 and SECRET not in r.text
    assert r.json()["detail"][0]["type"] == "json_invalid"
