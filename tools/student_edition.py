"""Build the student edition: notebooks without solutions, and a site built from them with every solution hidden.

    python tools/student_edition.py            # notebooks into _build/student/notebooks, site into _build/student/html
    python tools/student_edition.py --no-site  # the notebooks only (a few seconds)

What is removed from each chapter notebook:
- every ``{solution}`` block of the markdown (the ``{exercise}`` blocks stay);
- in code cells, the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` (the markers Otter-Grader and nbgrader
  read), replaced by ``# YOUR CODE HERE``: the line ``answer = ...`` above them keeps the cell runnable, and
  ``sa.check`` then says "no answer yet";
- every output and execution count.

The hidden cells that compute the numbers the solutions quote stay (they also serve the chapter's prose and checks;
the site hides them, and a student who opens one sees a computation, not a solution). The site is a normal ``jupyter-book build`` of a copy of the book holding those notebooks, with sphinx-exercise's
``hide_solutions`` set as well; it executes every notebook, as the main build does (about 7 minutes on two cores).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END, STUB = "# BEGIN SOLUTION", "# END SOLUTION", "# YOUR CODE HERE"
# A solution directive: an opening fence of 3+ backticks or colons, then "{solution}", up to the same fence.
SOLUTION_BLOCK = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution\}.*?^(?P=fence)[ \t]*$\n?", re.M | re.S)


def strip_markdown(text: str) -> str:
    """``text`` without its ``{solution}`` blocks (and without the blank lines they leave at the end)."""
    return SOLUTION_BLOCK.sub("", text).rstrip() + ("\n" if text.endswith("\n") else "")


def strip_code(source: str) -> str:
    """``source`` with each ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region replaced by ``# YOUR CODE HERE``."""
    kept, inside = [], False
    for line in source.splitlines():
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"a second {BEGIN!r} before {END!r}")
            inside = True
            kept.append(line[: len(line) - len(line.lstrip())] + STUB)
        elif marker == END:
            if not inside:
                raise ValueError(f"{END!r} without {BEGIN!r}")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"{BEGIN!r} without {END!r}")
    return "\n".join(kept)


def student_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with the solutions and every output removed."""
    student = nbformat.from_dict(notebook)
    cells = []
    for cell in student.cells:
        if cell.cell_type == "markdown":
            cell.source = strip_markdown(cell.source)
            if not cell.source.strip():
                continue
        elif cell.cell_type == "code":
            cell.source = strip_code(cell.source)
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    student.cells = cells
    return student


def chapters() -> list[Path]:
    """The chapter notebooks of the table of contents, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [entry["file"] for part in toc["parts"] for entry in part["chapters"]]
    return [ROOT / f"{file}.ipynb" for file in files if (ROOT / f"{file}.ipynb").exists()]


def write_notebooks(destination: Path) -> list[Path]:
    """The student notebooks under ``destination``, at the same relative paths as in the repository."""
    written = []
    for path in chapters():
        target = destination / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(student_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


def write_source(destination: Path) -> Path:
    """A copy of the book's sources with the student notebooks and ``hide_solutions`` set: the student site's root."""
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(ROOT / "book", destination / "book", ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    shutil.copytree(ROOT / "_ext", destination / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("_toc.yml", "references.bib"):
        shutil.copy2(ROOT / name, destination / name)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["title"] = f"{config['title']} (student edition)"
    config["sphinx"]["config"]["hide_solutions"] = True
    (destination / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    write_notebooks(destination)
    return destination


def build_site(source: Path, output: Path) -> int:
    """``jupyter-book build`` of ``source`` (warnings as errors) into ``output``; the build's exit status."""
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source), "--path-output",
               str(output), "-W", "-n", "--keep-going"]
    return subprocess.run(command, cwd=source).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "_build" / "student", help="where to write")
    parser.add_argument("--no-site", action="store_true", help="write the notebooks only")
    args = parser.parse_args(argv)
    notebooks = write_notebooks(args.output / "notebooks")
    print(f"{len(notebooks)} student notebooks in {args.output / 'notebooks'}")
    if args.no_site:
        return 0
    status = build_site(write_source(args.output / "source"), args.output)
    print(f"student site in {args.output / '_build' / 'html'}" if status == 0 else "the student site build failed")
    return status


if __name__ == "__main__":
    sys.exit(main())
