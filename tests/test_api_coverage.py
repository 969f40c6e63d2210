"""Every public function and class of the package has a property test, so the rule cannot rot.

Public means: defined in a module of ``simple_algebra`` (not imported into it), its name does not start with an
underscore, and it is a function or a class with behaviour (a class that only holds fields, such as a result
record made with ``@dataclass`` and no methods, is exempt: its producer's test covers it).
"""

import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path

import simple_algebra

from .properties import COVERED, public_name

ROOT = Path(__file__).resolve().parents[1]


def public_api() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(simple_algebra.__path__, "simple_algebra."):
        module = importlib.import_module(info.name)
        for name, thing in vars(module).items():
            if name.startswith("_") or getattr(thing, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(thing):
                names.append(public_name(thing))
            elif inspect.isclass(thing) and _has_behaviour(thing):
                names.append(public_name(thing))
    return sorted(names)


def _has_behaviour(cls: type) -> bool:
    methods = [name for name, value in vars(cls).items()
               if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, (classmethod,
                                                                                               staticmethod)))]
    return bool(methods) or not (dataclasses.is_dataclass(cls) or issubclass(cls, tuple))


def _import_every_test_module() -> None:
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        importlib.import_module(dotted)


def test_every_public_name_has_a_property_test():
    _import_every_test_module()
    missing = [name for name in public_api() if name not in COVERED]
    assert not missing, (f"{len(missing)} public names have no @covers(...) property test "
                         "(tests/properties.py says how to write one):\n" + "\n".join(missing))


def test_covered_names_still_exist():
    _import_every_test_module()
    api = set(public_api())
    stale = sorted(set(COVERED) - api)
    assert not stale, "property tests cover names that are not public any more:\n" + "\n".join(stale)
