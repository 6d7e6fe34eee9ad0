"""The lock files against pyproject.toml: `make run` and `make test` install only what
requirements/run.txt and requirements/dev.txt pin, so these tests fail when someone changes the
dependencies in pyproject.toml and forgets `make lock`."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
RUN_LOCK = ROOT / "requirements" / "run.txt"
DEV_LOCK = ROOT / "requirements" / "dev.txt"
# uv's annotation for a package that pyproject.toml asks for by name.
FROM_PYPROJECT = "tally (pyproject.toml)"
# The platform the Makefile compiles the locks for: markers are judged there, not here.
LOCK_TARGET = {
    "python_version": "3.11",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


@dataclass
class Pin:
    version: Version
    via: set[str] = field(default_factory=set)


def read_lock(path: Path) -> dict[NormalizedName, Pin]:
    """The packages a lock pins, each with the `# via` lines uv wrote under it."""
    pins: dict[NormalizedName, Pin] = {}
    current: Pin | None = None
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = pins[canonicalize_name(match[1])] = Pin(Version(match[2]))
        elif current is not None and line.startswith("    # via"):
            if via := line.removeprefix("    # via").strip():
                current.via.add(via)
        elif current is not None and line.startswith("    #   "):
            current.via.add(line.strip("# "))
    return pins


def asked_for(*extras: str) -> dict[NormalizedName, Requirement]:
    """What pyproject.toml asks for on the lock's platform, with the given optional extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [
        line for extra in extras for line in project["optional-dependencies"][extra]
    ]
    requirements = (Requirement(line) for line in lines)
    return {
        canonicalize_name(req.name): req
        for req in requirements
        if req.marker is None or req.marker.evaluate(LOCK_TARGET)
    }


@pytest.mark.parametrize(("lock", "extras"), [(RUN_LOCK, ()), (DEV_LOCK, ("dev",))])
def test_lock_matches_pyproject(lock: Path, extras: tuple[str, ...]) -> None:
    pins = read_lock(lock)
    wanted = asked_for(*extras)

    unpinned = sorted(name for name in wanted if name not in pins)
    assert not unpinned, f"{lock.name} lacks {unpinned}: run `make lock`"
    outside = {
        str(req): str(pins[name].version)
        for name, req in wanted.items()
        if not req.specifier.contains(pins[name].version, prereleases=True)
    }
    assert not outside, f"{lock.name} pins versions pyproject.toml no longer allows: {outside}"
    # Transitive packages are expected, but uv marks the ones pyproject names: a package
    # marked and no longer named, or named and not yet marked, is a lock nobody refreshed.
    named = {name for name, pin in pins.items() if FROM_PYPROJECT in pin.via}
    stale = sorted(named ^ wanted.keys())
    assert not stale, f"{lock.name} is older than pyproject.toml for {stale}: run `make lock`"


def test_runtime_lock_pins_what_the_dev_lock_pins() -> None:
    # The tests must run on the versions the image ships (make lock constrains run.txt by
    # dev.txt, so this holds unless someone edits one file by hand).
    run, dev = read_lock(RUN_LOCK), read_lock(DEV_LOCK)
    differ = {
        name: (str(pin.version), str(dev[name].version) if name in dev else None)
        for name, pin in run.items()
        if name not in dev or dev[name].version != pin.version
    }
    assert not differ, f"run.txt and dev.txt disagree (run, dev): {differ}"


def test_nothing_pulls_in_torch() -> None:
    # Nothing here needs it, and it would add gigabytes to every install and image.
    assert "torch" not in read_lock(DEV_LOCK)
