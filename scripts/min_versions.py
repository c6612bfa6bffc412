"""The lowest versions pyproject.toml allows, pinned: what `make test-min-versions` installs.

    python scripts/min_versions.py                  # name==floor, one a line (all extras)
    python scripts/min_versions.py --only torch     # one package's pin
    python scripts/min_versions.py --check          # exit 1 unless the installed versions are those

Every requirement of [project] dependencies and of the extras must declare its floor with `>=`;
one without a floor is an error here, since nothing would test it. Needs no package outside the
standard library (tomllib; on Python 3.10 the copy of tomli vendored in pip).
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# name, optional [extras], the version specifiers, an optional `; marker`
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)(;.*)?$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def floors(pyproject: Path = PYPROJECT, extras: list[str] | None = None) -> dict[str, str]:
    """{name: `name==floor[; marker]`} for the dependencies and the chosen extras (all: None)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    unknown = sorted(set(extras or []) - set(optional))
    if unknown:
        raise SystemExit(f"{pyproject}: no extra named {', '.join(unknown)}")
    requirements = list(project.get("dependencies", []))
    for extra in optional if extras is None else extras:
        requirements += optional[extra]
    pins: dict[str, str] = {}
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        floor = None
        if match:
            for spec in match.group(2).split(","):
                if spec.strip().startswith(">="):
                    floor = spec.strip()[2:].strip()
        if match is None or floor is None:
            raise SystemExit(
                f"{pyproject}: `{requirement}` declares no lower bound (`>=`); give it the "
                "lowest version the code works with, so that `make test-min-versions` tests it."
            )
        name = normalise(match.group(1))
        pin = f"{name}=={floor}{match.group(3) or ''}"
        if pins.get(name, pin) != pin:
            raise SystemExit(f"{pyproject}: {name} has two floors: {pins[name]} and {pin}")
        pins[name] = pin
    return pins


def _release(version: str) -> tuple[int, ...]:
    """1.26 and 1.26.0 alike; a local label (2.5.0+cpu) and anything after the numbers ignored."""
    numbers = [int(n) for n in re.findall(r"\d+", re.match(r"[\d.]*", version).group())]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def check(pins: dict[str, str]) -> list[str]:
    """The pins that the running interpreter's installed packages do not match."""
    wrong = []
    for name, pin in pins.items():
        if ";" in pin:
            continue  # a marker: may rightly be absent here
        wanted = pin.split("==", 1)[1]
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "not installed"
        if _release(have) != _release(wanted):  # torch 2.5.0+cpu is torch==2.5
            wrong.append(f"{name}: floor {wanted}, installed {have}")
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", action="append", help="only these extras (default: all)")
    parser.add_argument("--only", help="print this one package's pin")
    parser.add_argument("--check", action="store_true", help="compare with what is installed")
    args = parser.parse_args(argv)
    pins = floors(extras=args.extra)
    if args.check:
        wrong = check(pins)
        for line in wrong:
            print(line, file=sys.stderr)
        if not wrong:
            print(f"all {len(pins)} declared floors installed exactly")
        return 1 if wrong else 0
    if args.only:
        name = normalise(args.only)
        if name not in pins:
            raise SystemExit(f"{PYPROJECT}: {args.only} is not a declared dependency")
        print(pins[name])
        return 0
    print("\n".join(pins.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
