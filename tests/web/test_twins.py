"""One naming rule: the JSON twin of page ``/x`` is ``GET /api/x``, and of an admin page
``/admin/x`` it is ``GET /api/x``. The test walks every page route, so a new page without
its twin fails here."""

import re

from fastapi.routing import APIRoute
from test_security import endpoints

# pages that show no data of their own: the login form (its API is POST /api/login) and
# "/", which redirects to the role's home page
NOT_PAGES = {"/", "/login"}


def page_routes(app) -> list[str]:
    found, _ = endpoints(app)
    return sorted(
        route.path
        for key, route in found
        if isinstance(route, APIRoute)
        and key.startswith("GET ")
        and not route.path.startswith(("/api/", "/media/", "/static/"))
        and route.path not in NOT_PAGES
    )


def twin_of(page: str) -> str:
    return "/api" + page.removeprefix("/admin")


def test_every_page_has_its_twin_under_the_one_rule(app, as_user):
    pages = page_routes(app)
    assert {"/review", "/dashboard", "/explorer", "/issues", "/label", "/admin/audit"} <= set(pages)
    api = {key for key, _ in endpoints(app)[0]}
    missing = [f"{p}: no GET {twin_of(p)}" for p in pages if f"GET {twin_of(p)}" not in api]
    assert not missing, "\n".join(missing)
    # and each twin answers with JSON where its page answers with HTML
    boss = as_user("boss")
    for page in pages:
        path = re.sub(r"\{[^}]+\}", "1", page)
        html, twin = boss.get(path), boss.get(twin_of(path))
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert twin.status_code == 200, (twin_of(path), twin.text[:200])
        assert twin.headers["content-type"] == "application/json", twin_of(path)


def test_the_old_label_issues_name_is_gone(app, as_user):
    rev = as_user("rev")
    assert rev.get("/api/label-issues").status_code == 404
    assert rev.get("/api/issues").status_code == 200
