"""The package layout shows the book: subpackages by family, short modules, tests and docs that follow the tree."""

import ast
import importlib
import re
from pathlib import Path

import pytest

import simple_algebra

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "simple_algebra"
MAX_MODULE_LINES = 400
SUBPACKAGES = sorted(path.parent.name for path in PACKAGE.glob("*/__init__.py"))
MODULES = sorted(path for path in PACKAGE.glob("*/*.py") if path.name != "__init__.py")


def test_every_module_lives_in_a_subpackage():
    assert SUBPACKAGES, "no subpackages found"
    assert sorted(path.name for path in PACKAGE.glob("*.py")) == ["__init__.py"], "modules beside __init__.py"
    assert not list(PACKAGE.glob("*/*/")) or all(p.name == "__pycache__" for p in PACKAGE.glob("*/*/")), \
        "subpackages are one level deep"


@pytest.mark.parametrize("module", MODULES, ids=lambda path: f"{path.parent.name}.{path.stem}")
def test_module_is_short(module):
    lines = len(module.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module.relative_to(ROOT)} has {lines} lines; split it along a seam"


def test_docstrings_list_every_subpackage_and_module():
    for name in SUBPACKAGES:
        assert f"``{name}``" in simple_algebra.__doc__, f"the package docstring does not list {name}"
        listed = set(re.findall(r"^- ``(\w+)``", importlib.import_module(f"simple_algebra.{name}").__doc__, re.M))
        present = {path.stem for path in (PACKAGE / name).glob("*.py")} - {"__init__"}
        assert listed == present, f"simple_algebra.{name}'s docstring lists {sorted(listed)}, has {sorted(present)}"


def test_readme_layout_shows_the_tree():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    for name in SUBPACKAGES:
        assert f"{name}/" in layout, f"the README's Layout section does not show {name}/"


@pytest.mark.parametrize("folder", ["tests", "benchmarks"])
def test_tests_and_benchmarks_mirror_the_subpackages(folder):
    families = {path.parent.name for path in (ROOT / folder).glob("*/*.py")} - {"book", "benchmarks"}
    assert families <= set(SUBPACKAGES), f"{folder}/ has folders {sorted(families - set(SUBPACKAGES))} with no package"


@pytest.mark.parametrize("module", MODULES, ids=lambda path: f"{path.parent.name}.{path.stem}")
def test_each_module_has_its_test_file(module):
    assert (ROOT / "tests" / module.parent.name / f"test_{module.stem}.py").exists()


def test_data_flows_one_way():
    """src imports neither the book, nor the tests, nor the benchmarks; a subpackage imports only the package."""
    for module in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top = node.module.split(".")[0]
            elif isinstance(node, ast.Import):
                top = node.names[0].name.split(".")[0]
            else:
                continue
            assert top not in {"book", "tests", "benchmarks", "harness"}, f"{module} imports {top}"


def _references():
    """Every dotted ``simple_algebra.x.y`` path written anywhere in the code, chapters and docs."""
    files = [ROOT / "README.md", *ROOT.glob("book/**/*.ipynb"), *ROOT.glob("book/**/*.md"),
             *ROOT.glob("src/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("benchmarks/**/*.py")]
    for path in files:
        if path == Path(__file__).resolve():
            continue  # this file names paths that must not exist, as examples
        for match in set(re.findall(r"\bsimple_algebra(?:\.\w+)+", path.read_text())):
            yield path, match


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_every_written_path_still_resolves():
    """No import or mention of an old flat path (``simple_algebra.conv_basis``) is left anywhere."""
    stale = sorted({f"{path.relative_to(ROOT)}: {dotted}" for path, dotted in _references() if not _resolves(dotted)})
    assert not stale, "paths that no longer exist:\n" + "\n".join(stale)
