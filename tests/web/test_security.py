"""The web app's defences: who may call what, CSRF, login and sessions, escaping, media
paths, security headers and redirects.

The route checks walk ``app.routes``, so a new endpoint is covered as soon as it exists:
it must appear in ``ACCESS`` (the roles it is meant for) or the first test fails.
"""

import inspect
import re
from urllib.parse import urlsplit

import anyio
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from webutil import PASSWORDS, ROLES, login

from labelwise.store import transaction
from labelwise.store._models import Assignment, Sample, User
from labelwise.web._auth import COOKIE, CSRF_HEADER, current_user

ANY = frozenset({"annotator", "reviewer", "admin"})  # any logged-in user
ANN = frozenset({"annotator", "admin"})
REV = frozenset({"reviewer", "admin"})
ADM = frozenset({"admin"})

# Every endpoint and the roles it is meant for. A route missing here fails the suite.
ACCESS = {
    "POST /api/logout": ANY,
    "GET /api/me": ANY,
    "GET /api/label": ANN,
    "GET /api/next": ANN,
    "POST /api/submit": ANN,
    "POST /api/skip": ANN,
    "POST /api/undo": ANN,
    "GET /api/review": REV,
    "POST /api/review/{label_id}": REV,
    "GET /api/dashboard": REV,
    "GET /api/dashboard/baseline": REV,
    "GET /api/explorer": REV,
    "GET /api/samples/{sample_id}": REV,
    "GET /api/map": REV,
    "GET /api/quality": REV,
    "GET /api/issues": REV,
    "POST /api/issues/queue": REV,
    "GET /api/audit": ADM,
    "GET /api/users": ADM,
    "POST /api/users": ADM,
    "PATCH /api/users/{name}": ADM,
    "GET /api/classes": REV,
    "POST /api/classes": ADM,
    "POST /api/classes/rename": ADM,
    "POST /api/classes/merge": ADM,
    "POST /api/classes/retire": ADM,
    "GET /api/queue": ADM,
    "POST /api/queue/settings": ADM,
    "POST /api/queue/assign": ADM,
    "POST /api/queue/release": ADM,
    "POST /api/gold": ADM,
    "POST /api/rounds": ADM,
    "GET /": ANY,
    "GET /label": ANN,
    "GET /review": REV,
    "GET /dashboard": REV,
    "GET /explorer": REV,
    "GET /samples/{sample_id}": REV,
    "GET /quality": REV,
    "GET /issues": REV,
    "GET /admin/users": ADM,
    "GET /admin/classes": ADM,
    "GET /admin/queue": ADM,
    "GET /admin/audit": ADM,
    "GET /media/{sample_id}": ANY,  # annotators: only samples assigned to them (tested below)
    "GET /media/files/{path:path}": REV,
}
# Reachable without a session, by design.
PUBLIC = {"GET /login", "POST /login", "POST /api/login"}
PUBLIC_NON_API = {"/openapi.json", "/static"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
SCRIPT = "<script>alert(1)</script>"
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
BOLD = "<b>x</b>"
BOLD_ESCAPED = "&lt;b&gt;x&lt;/b&gt;"


# -- helpers ---------------------------------------------------------------------------------
def endpoints(app):
    """``("METHOD /path", APIRoute)`` for every endpoint, and the other (non-API) routes.

    Included routers are walked (recent FastAPI keeps them unflattened in ``app.routes``).
    """
    found, other = [], []
    stack = list(app.routes)
    while stack:
        r = stack.pop(0)
        if hasattr(r, "effective_route_contexts"):
            stack[:0] = [ctx.original_route for ctx in r.effective_route_contexts()]
        elif isinstance(r, APIRoute):
            found += [(f"{m} {r.path}", r) for m in sorted(r.methods)]
        else:
            other.append(r)
    return found, other


def gate(route: APIRoute) -> frozenset | None:
    """The roles the route's dependencies let in; None when nothing reads a session.

    Reads the ``allowed`` set that ``require(*roles)`` closes over; should that change,
    every role-checked route reads as open to ANY and the first test says so.
    """
    roles = None
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        stack += dep.dependencies
        if dep.call is current_user:
            roles = ANY if roles is None else roles
        elif inspect.isfunction(dep.call):
            allowed = inspect.getclosurevars(dep.call).nonlocals.get("allowed")
            if allowed is not None:
                roles = frozenset(allowed) & (ANY if roles is None else roles)
    return roles


def tampered(token: str) -> str:
    """The token with its last character changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def concrete(path: str) -> str:
    """A requestable path: every ``{param}`` becomes 1."""
    return re.sub(r"\{[^}]+\}", "1", path)


def call(client, key: str, **kw):
    method, path = key.split(" ", 1)
    if method in UNSAFE:
        kw.setdefault("json", {})
    return client.request(method, concrete(path), follow_redirects=False, **kw)


def raw_get(app, path: str, token: str) -> tuple[int, bytes]:
    """GET ``path`` byte for byte: httpx resolves ``..`` segments before sending."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"cookie", f"{COOKIE}={token}".encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    # in a thread of its own: a session-scoped Playwright browser (tests/browser) keeps an
    # event loop running in the main thread, where anyio.run would refuse to start
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, app, scope, receive, send).result()
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


def set_cookies(response, name: str) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


def form_login(app, name: str, password: str, next: str = "/", client=None):
    """Log in through the HTML form, as a browser does (form token + its cookie)."""
    c = client or TestClient(app)
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"username": name, "password": password, "csrf_token": token, "next": next}
    return c, c.post("/login", data=form, follow_redirects=False)


# -- who may call what -----------------------------------------------------------------------
def test_every_route_is_listed_with_its_roles_and_its_dependency_agrees(app):
    found, other = endpoints(app)
    keys = [k for k, _ in found]
    problems = [
        f"{k}: not in ACCESS; add it with the roles it is for"
        for k in keys
        if k not in ACCESS and k not in PUBLIC
    ]
    problems += [f"{k}: in ACCESS but not an endpoint any more" for k in ACCESS if k not in keys]
    for key, route in found:
        expected = None if key in PUBLIC else ACCESS.get(key)
        if key in ACCESS or key in PUBLIC:
            got = gate(route)
            if got != expected:
                problems.append(f"{key}: the dependency lets in {got}, ACCESS says {expected}")
    # a plain Starlette route would skip every check below
    problems += [f"{r.path}: a non-API route" for r in other if r.path not in PUBLIC_NON_API]
    assert not problems, "\n".join(problems)


def test_anonymous_requests_are_refused_everywhere(app):
    anon = TestClient(app)
    problems = []
    for key, _ in endpoints(app)[0]:
        if key in PUBLIC:
            continue
        r = call(anon, key)
        path = key.split(" ", 1)[1]
        if path.startswith(("/api", "/media")):
            if r.status_code != 401:
                problems.append(f"{key}: {r.status_code}, expected 401")
        elif r.status_code not in (302, 303) or not r.headers["location"].startswith("/login"):
            problems.append(f"{key}: {r.status_code} {r.headers.get('location')}, not to /login")
    assert not problems, "\n".join(problems)


def test_every_role_outside_a_routes_list_is_refused(app, as_user):
    clients = {"annotator": as_user("ann"), "reviewer": as_user("rev")}
    problems, checked = [], 0
    for key, _ in endpoints(app)[0]:
        for role, client in clients.items():
            # a route missing from ACCESS fails the first test; here it counts as admin-only
            if key in PUBLIC or role in ACCESS.get(key, ADM):
                continue
            r = call(client, key)
            checked += 1
            if r.status_code != 403 or "this needs the role" not in r.text:
                problems.append(f"{key} as {role}: {r.status_code} {r.text[:80]!r}")
    assert not problems, "\n".join(problems)
    assert checked > 30


def test_writes_without_the_sessions_csrf_token_are_refused(app, as_user):
    boss, rev = as_user("boss"), as_user("rev")
    good = boss.headers.pop(CSRF_HEADER)
    problems = []
    for key, _ in endpoints(app)[0]:
        if key in PUBLIC or key.split(" ")[0] not in UNSAFE:
            continue
        for label, headers in [
            ("no token", {}),
            ("wrong token", {CSRF_HEADER: tampered(good)}),
            ("empty token", {CSRF_HEADER: ""}),
            ("another session's token", {CSRF_HEADER: rev.headers[CSRF_HEADER]}),
        ]:
            r = call(boss, key, headers=headers)
            if r.status_code != 403 or "CSRF" not in r.text:
                problems.append(f"{key} with {label}: {r.status_code} {r.text[:80]!r}")
    assert not problems, "\n".join(problems)
    assert boss.get("/api/me").status_code == 200  # the refused logout ended nothing


def test_a_non_ascii_csrf_token_is_refused_not_a_server_error(app, as_user):
    # secrets.compare_digest raises TypeError for non-ASCII str: this was a 500
    boss = TestClient(app, raise_server_exceptions=False, cookies=as_user("boss").cookies)
    header = boss.post("/api/logout", headers={CSRF_HEADER: "\xe9".encode("latin-1")})
    form = TestClient(app, raise_server_exceptions=False).post(
        "/login", data={"username": "boss", "password": "x", "csrf_token": "\xe9"}
    )
    assert (header.status_code, form.status_code) == (403, 403)


def test_login_takes_json_only(app):
    # a cross-site form can post text/plain, never application/json without CORS
    body = '{"username": "boss", "password": "boss-pass-1"}'
    r = TestClient(app).post("/api/login", content=body, headers={"content-type": "text/plain"})
    assert r.status_code == 422 and not set_cookies(r, COOKIE)


# -- login and sessions ---------------------------------------------------------------------
def test_a_wrong_password_reads_like_an_unknown_user(app, as_user):
    c = TestClient(app)
    wrong = c.post("/api/login", json={"username": "boss", "password": "not-the-password"})
    unknown = c.post("/api/login", json={"username": "nobody", "password": "not-the-password"})
    as_user("boss").patch("/api/users/ann", json={"active": False})
    disabled = c.post("/api/login", json={"username": "ann", "password": PASSWORDS["ann"]})
    assert wrong.status_code == unknown.status_code == disabled.status_code == 401
    assert wrong.json() == unknown.json() == disabled.json()
    assert not set_cookies(wrong, COOKIE)
    # the form says the same
    _, form_wrong = form_login(app, "boss", "not-the-password")
    _, form_unknown = form_login(app, "nobody", "not-the-password")
    assert form_wrong.status_code == form_unknown.status_code == 401
    assert wrong.json()["detail"] in form_wrong.text and wrong.json()["detail"] in form_unknown.text


def test_the_session_cookie_is_httponly_and_samesite(app):
    r = TestClient(app).post("/api/login", json={"username": "rev", "password": "rev-pass-1"})
    _, form = form_login(app, "rev", "rev-pass-1")
    r_https = TestClient(app, base_url="https://testserver").post(
        "/api/login", json={"username": "rev", "password": "rev-pass-1"}
    )
    for resp in (r, form, r_https):
        (cookie,) = set_cookies(resp, COOKIE)
        attrs = {a.strip().split("=")[0].lower(): a for a in cookie.lower().split(";")[1:]}
        assert "httponly" in attrs
        assert attrs["samesite"].strip() in ("samesite=lax", "samesite=strict")
    (secure,) = set_cookies(r_https, COOKIE)
    assert "secure" in secure.lower()  # over HTTPS the cookie is never sent in the clear
    assert CSRF_HEADER not in r.headers  # the CSRF token comes in the body only


def test_logout_ends_the_session_for_the_old_cookie_too(app, as_user):
    c = as_user("rev")
    token, csrf = c.cookies[COOKIE], c.headers[CSRF_HEADER]
    assert c.post("/api/logout").status_code == 200
    old = TestClient(app, cookies={COOKIE: token}, headers={CSRF_HEADER: csrf})
    assert old.get("/api/me").status_code == 401
    assert old.get("/api/review").status_code == 401
    assert old.post("/api/issues/queue", json={"top": 1}).status_code == 401
    r = old.get("/review", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_a_disabled_or_demoted_user_loses_the_open_session(app, web_project, as_user):
    p, _ = web_project
    ann, rev, ann2 = as_user("ann"), as_user("rev"), as_user("ann2")
    assert ann.get("/api/next").status_code == 200
    boss = as_user("boss")
    assert boss.patch("/api/users/ann", json={"active": False}).status_code == 200
    assert ann.get("/api/next").status_code == 401
    assert ann.get("/label", follow_redirects=False).status_code == 303
    # a demoted reviewer keeps no reviewer rights in the old session
    assert boss.patch("/api/users/rev", json={"role": "annotator"}).status_code == 200
    assert rev.get("/api/review").status_code == 401
    # the account flag alone is enough, even where the session row survives
    with transaction(p.session) as s:
        s.execute(update(User).where(User.name == "ann2").values(active=False))
    assert ann2.get("/api/me").status_code == 401


# -- escaping ------------------------------------------------------------------------------
def test_user_text_is_escaped_on_every_page_that_shows_it(app, as_user):
    boss, ann, rev = as_user("boss"), as_user("ann"), as_user("rev")
    assert boss.post("/api/classes", json={"name": BOLD}).status_code == 200
    new_user = {"name": SCRIPT, "password": "long-enough-1", "role": "annotator"}
    assert boss.post("/api/users", json=new_user).status_code == 200
    item = ann.get("/api/next").json()
    sid = item["sample"]["id"]
    body = {"assignment_id": item["assignment"]["id"], "label": BOLD, "comment": SCRIPT}
    assert ann.post("/api/submit", json=body).status_code == 200
    # a second label, rejected with a note that is also markup
    item2 = ann.get("/api/next").json()
    sid2 = item2["sample"]["id"]
    body = {"assignment_id": item2["assignment"]["id"], "label": "1", "comment": SCRIPT}
    assert ann.post("/api/submit", json=body).status_code == 200
    lid2 = next(it for it in rev.get("/api/review").json()["items"] if it["sample_id"] == sid2)
    r = rev.post(f"/api/review/{lid2['label_id']}", json={"decision": "reject", "note": SCRIPT})
    assert r.status_code == 200

    pages = {
        (rev, "/review"): [SCRIPT_ESCAPED, BOLD_ESCAPED],
        (rev, f"/samples/{sid}"): [SCRIPT_ESCAPED, BOLD_ESCAPED],
        (rev, f"/samples/{sid2}"): [SCRIPT_ESCAPED],
        (boss, "/admin/classes"): [BOLD_ESCAPED],
        (boss, "/admin/users"): [SCRIPT_ESCAPED],
        (boss, "/admin/queue"): [SCRIPT_ESCAPED],
        (rev, f"/explorer?label={BOLD}"): [BOLD_ESCAPED],
        (rev, f"/explorer?q={SCRIPT}"): [SCRIPT_ESCAPED],
    }
    # and every other page, which must not show them raw either
    for key, _ in endpoints(app)[0]:
        method, path = key.split(" ", 1)
        if method == "GET" and not path.startswith(("/api", "/media")) and "{" not in path:
            pages.setdefault((boss, path), [])
    problems = []
    for (client, path), escaped in pages.items():
        r = client.get(path, follow_redirects=False)
        if r.status_code == 303:
            continue
        assert r.headers["content-type"].startswith("text/html"), path
        if SCRIPT in r.text or BOLD in r.text:
            problems.append(f"{path}: raw markup in the page")
        problems += [f"{path}: {e!r} missing" for e in escaped if e not in r.text]
    assert not problems, "\n".join(problems)


# -- media ---------------------------------------------------------------------------------
@pytest.fixture()
def image_app(tmp_path):
    """An image-folder project (6 PNGs, 4 selected) and its app; also a secret outside it."""
    from PIL import Image

    from labelwise.annotate import add_user
    from labelwise.embed import compute_features
    from labelwise.io._samples import import_pool
    from labelwise.loop._project import select_batch
    from labelwise.store import Project
    from labelwise.web import create_app

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(6):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(folder / f"img{i}.png")
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (8, 8), (0, 0, 255)).save(outside / "secret.png")
    (outside / "secret.txt").write_text("TOP-SECRET-OUTSIDE")
    p = Project.init(tmp_path / "proj", classes=["a", "b"])
    import_pool(p, folder)
    compute_features(p, method="pixels")  # not about embedding: no backbone
    select_batch(p, strategy="random", batch_size=4, random_state=0)
    for name, pw in PASSWORDS.items():
        add_user(p, name, pw, ROLES[name])
    (p.path / "media").mkdir()
    (p.path / "media" / "ok.txt").write_text("fine to show")
    (p.path / "secret.txt").write_text("TOP-SECRET-PROJECT")
    (p.path / "media" / "link.txt").symlink_to(outside / "secret.txt")
    (p.path / "media" / "loop.txt").symlink_to(p.path / "media" / "loop.txt")
    yield create_app(p), p, outside
    p.close()


def test_media_files_refuse_paths_that_leave_the_media_folder(image_app):
    app, p, outside = image_app
    rev = login(app, "rev", PASSWORDS["rev"])
    assert rev.get("/media/files/ok.txt").text == "fine to show"  # the route does serve files
    rev = TestClient(app, raise_server_exceptions=False, cookies=rev.cookies)
    secrets = [b"TOP-SECRET", b"root:"]
    encoded = [
        "/media/files/..%2Fsecret.txt",
        "/media/files/..%2F..%2Foutside%2Fsecret.txt",
        "/media/files/..%2F..%2Fetc%2Fpasswd",
        "/media/files/%2E%2E/secret.txt",
        "/media/files/ok/..%2F..%2Fsecret.txt",
        "/media/files/..%5Csecret.txt",
        "/media/files/%2Fetc%2Fpasswd",  # absolute
        "/media/files//etc/passwd",
        f"/media/files/{outside / 'secret.txt'}",
        "/media/files/link.txt",  # a symlink inside media that points out
        # a null byte, a name too long for the file system, a symlink loop: 4xx, not 500
        "/media/files/a%00b",
        "/media/files/" + "a" * 300,
        "/media/files/loop.txt",
    ]
    problems = []
    for path in encoded:
        r = rev.get(path)
        if not 400 <= r.status_code < 500 or any(s in r.content for s in secrets):
            problems.append(f"{path}: {r.status_code} {r.content[:40]!r}")
    token = rev.cookies[COOKIE]
    for path in [
        "/media/files/../secret.txt",
        "/media/files/../../outside/secret.txt",
        "/media/files/../../etc/passwd",
        "/media/files/../../../../../../../../etc/passwd",
        "/media/files/ok/../../secret.txt",
    ]:
        status, body = raw_get(app, path, token)
        if not 400 <= status < 500 or any(s in body for s in secrets):
            problems.append(f"{path} (raw): {status} {body[:40]!r}")
    assert not problems, "\n".join(problems)


def test_a_samples_media_outside_the_media_roots_is_refused(image_app):
    app, p, outside = image_app
    boss = login(app, "boss", PASSWORDS["boss"])
    boss = TestClient(app, raise_server_exceptions=False, cookies=boss.cookies)
    assert boss.get("/media/1").headers["content-type"] == "image/png"
    secret = (outside / "secret.png").read_bytes()
    folder = p.path.parent / "images"
    uris = {
        2: str(outside / "secret.png"),
        3: f"{folder}/../outside/secret.png",
        4: "/etc/passwd",
        5: str(p.path.parent / "sneaky.png"),
        6: str(folder / "loop.png"),
    }
    (folder / "loop.png").symlink_to(folder / "loop.png")
    (p.path.parent / "sneaky.png").symlink_to(outside / "secret.png")
    with transaction(p.session) as s:
        for sid, uri in uris.items():
            s.execute(update(Sample).where(Sample.id == sid).values(uri=uri))
    for sid in uris:
        for q in ("", "?thumb=1"):
            r = boss.get(f"/media/{sid}{q}")
            assert r.status_code == 404, (sid, q, r.status_code)
            assert secret not in r.content and b"root:" not in r.content


def test_an_annotator_sees_only_the_media_of_their_own_work(image_app):
    app, p, _ = image_app
    ann, ann2 = login(app, "ann", PASSWORDS["ann"]), login(app, "ann2", PASSWORDS["ann2"])
    mine = ann.get("/api/next").json()["sample"]
    theirs = ann2.get("/api/next").json()["sample"]
    assert mine["media_url"] == f"/media/{mine['id']}"
    with p.session() as s:
        assigned = set(s.scalars(select(Assignment.sample_id).where(Assignment.annotator == "ann")))
        every = set(s.scalars(select(Sample.id)))
    assert assigned == {mine["id"]}
    assert ann.get(mine["media_url"]).status_code == 200
    assert ann.get(mine["media_url"] + "?thumb=1").headers["content-type"] == "image/jpeg"
    for sid in sorted(every - assigned):  # ann2's sample, queued ones, never selected ones
        for q in ("", "?thumb=1"):
            r = ann.get(f"/media/{sid}{q}")
            assert r.status_code == 403, (sid, r.status_code)
            assert not r.content.startswith((b"\x89PNG", b"\xff\xd8"))
    assert theirs["id"] in every - assigned
    rev = login(app, "rev", PASSWORDS["rev"])
    assert all(rev.get(f"/media/{sid}").status_code == 200 for sid in every)


# -- headers, login form, redirects -------------------------------------------------------
def test_security_headers_are_on_every_kind_of_response(app, as_user):
    anon, rev = TestClient(app), as_user("rev")
    responses = {
        "login page": anon.get("/login"),
        "401": anon.get("/api/me"),
        "redirect": anon.get("/review", follow_redirects=False),
        "json": rev.get("/api/me"),
        "page": rev.get("/review"),
        "error page": rev.get("/samples/999999"),
        "404": rev.get("/media/files/nothing.png"),
        "static": anon.get("/static/lw.js"),
    }
    for what, r in responses.items():
        csp = r.headers.get("content-security-policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, what
        assert directives.get("script-src", directives.get("default-src")) == ["'self'"], what
        assert directives.get("object-src") == ["'none'"], what
        assert directives.get("frame-ancestors") == ["'none'"], what
        assert r.headers.get("x-content-type-options") == "nosniff", what
    assert responses["json"].headers["cache-control"] == "no-store"


def test_the_login_form_needs_its_double_submit_token(app):
    form = {"username": "boss", "password": PASSWORDS["boss"], "next": "/"}
    c = TestClient(app)
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    (cookie,) = set_cookies(page, "lw_login_csrf")
    assert "httponly" in cookie.lower()
    refused = {
        "no field": c.post("/login", data=form, follow_redirects=False),
        "wrong field": c.post(
            "/login", data={**form, "csrf_token": tampered(token)}, follow_redirects=False
        ),
        "no cookie": TestClient(app).post(
            "/login", data={**form, "csrf_token": token}, follow_redirects=False
        ),
        "both empty": TestClient(app).post(
            "/login", data={**form, "csrf_token": ""}, follow_redirects=False
        ),
    }
    for what, r in refused.items():
        assert r.status_code == 403, what
        assert not set_cookies(r, COOKIE), what
    ok = c.post("/login", data={**form, "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303 and set_cookies(ok, COOKIE)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "https://evil.com",
        "http:evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "/\t/evil.com",
        "javascript:alert(1)",
        "evil.com",
    ],
)
def test_next_never_leaves_the_site(app, target):
    page = TestClient(app).get("/login", params={"next": target})
    kept = re.search(r'name="next" value="([^"]*)"', page.text).group(1)
    _, r = form_login(app, "boss", PASSWORDS["boss"], next=target)
    assert r.status_code == 303
    for url in (kept, r.headers["location"]):
        bare = re.sub(r"[\t\r\n]", "", url)  # browsers drop these before parsing a URL
        parts = urlsplit(bare)
        assert not parts.scheme and not parts.netloc, url
        assert bare.startswith("/") and not bare.startswith("//") and "\\" not in bare, url


def test_next_within_the_site_is_followed(app):
    anon = TestClient(app)
    r = anon.get("/explorer", follow_redirects=False)
    assert r.headers["location"] == "/login?next=/explorer"
    _, r = form_login(app, "boss", PASSWORDS["boss"], next="/explorer?q=d1")
    assert r.headers["location"] == "/explorer?q=d1"
