"""CI's pins (.ci/constraints.txt) cover what pyproject.toml asks for, within its ranges.

A dependency added to or bounded in pyproject.toml without running ``bash .ci/lock`` would
leave CI installing an unpinned (or refused) version: this test names it.
"""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# what .ci/run installs: -e ".[dev,text,image,torch]"
CI_EXTRAS = ("dev", "text", "image", "torch", "ray")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def pins() -> dict[str, Version]:
    found = {}
    lines = (ROOT / ".ci" / "constraints.txt").read_text().splitlines()
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.match(line)
        assert m, f".ci/constraints.txt line {n}: {line!r} is not an exact pin (name==version)"
        found[canonicalize_name(m[1])] = Version(m[2])
    return found


def ci_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in CI_EXTRAS:
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def _extra_requirements(name: str, extra: str) -> list[Requirement]:
    """What the installed distribution ``name`` requires for its ``extra``."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        declared = requires(name) or []
    except PackageNotFoundError:
        return [Requirement(f"{name}-{extra}")]  # not installed here: the pin must name it
    found = []
    for line in declared:
        dep = Requirement(line)
        if dep.marker is not None and dep.marker.evaluate({"extra": extra}):
            if not dep.marker.evaluate({"extra": ""}):  # only with this extra
                found.append(dep)
    return found


def test_every_requirement_ci_installs_is_pinned_within_its_range():
    pinned = pins()
    problems = []
    for req in ci_requirements():
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        if name not in pinned:
            problems.append(f"{req} is not pinned")
        elif not req.specifier.contains(pinned[name], prereleases=True):
            problems.append(f"{req} but the pin is {pinned[name]}")
        for extra in req.extras:  # psycopg[binary] -> psycopg-binary; ray[data] -> pandas, ...
            for dep in _extra_requirements(req.name, extra):
                if canonicalize_name(dep.name) not in pinned:
                    problems.append(f"{req}: {dep.name} (its extra {extra!r}) is not pinned")
    assert not problems, "run 'bash .ci/lock' and commit .ci/constraints.txt: " + "; ".join(
        problems
    )


def test_labelwise_itself_is_not_pinned():
    assert "labelwise" not in pins()
