"""The student edition (tools/student_edition.py): no solution survives, every check cell still runs."""

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from simple_algebra.core.checking import exercises

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("student_edition", ROOT / "tools" / "student_edition.py")
student_edition = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(student_edition)

CHECK_CALL = re.compile(r"sa\.check\(\"([\w-]+)\"")
EXERCISE_LABEL = re.compile(r"\{exercise\}[^\n]*\n:label: ([\w-]+)")


def test_strip_code_keeps_the_stub_and_refuses_unbalanced_markers():
    source = "answer = ...\n    # BEGIN SOLUTION\n    answer = 42\n    # END SOLUTION\nsa.check('x', answer)"
    assert student_edition.strip_code(source) == "answer = ...\n    # YOUR CODE HERE\nsa.check('x', answer)"
    for broken in ("# BEGIN SOLUTION\nx = 1", "x = 1\n# END SOLUTION", "# BEGIN SOLUTION\n# BEGIN SOLUTION"):
        with pytest.raises(ValueError, match="SOLUTION"):
            student_edition.strip_code(broken)


def test_strip_markdown_removes_each_solution_block_whatever_its_fence():
    text = "````{exercise} Q\n:label: ex-q\n\nAsk.\n````\n\n````{solution} ex-q\n:class: dropdown\n\nSecret.\n" \
           "```python\nprint(1)\n```\n````\n\n:::{solution} ex-r\nAlso secret.\n:::\nAfter."
    stripped = student_edition.strip_markdown(text)
    assert "Ask." in stripped and "After." in stripped
    assert "Secret" not in stripped and "secret" not in stripped and "{solution}" not in stripped


@pytest.mark.parametrize("path", student_edition.chapters(), ids=lambda path: path.stem)
def test_student_notebook_has_no_solution_and_keeps_every_exercise(path):
    original = nbformat.read(path, as_version=4)
    student = student_edition.student_notebook(original)
    text = "\n".join(cell.source for cell in student.cells)
    assert "{solution}" not in text and "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert not any(cell.get("outputs") for cell in student.cells)
    original_text = "\n".join(cell.source for cell in original.cells)
    assert EXERCISE_LABEL.findall(text) == EXERCISE_LABEL.findall(original_text)
    assert CHECK_CALL.findall(text) == CHECK_CALL.findall(original_text)


@pytest.mark.parametrize("path", student_edition.chapters(), ids=lambda path: path.stem)
def test_every_check_names_a_registered_exercise_of_its_chapter_and_has_a_stub(path):
    notebook = nbformat.read(path, as_version=4)
    labels = EXERCISE_LABEL.findall("\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown"))
    for cell in notebook.cells:
        for label in CHECK_CALL.findall(cell.source) if cell.cell_type == "code" else []:
            assert label in exercises(), f"{path.name}: sa.check names {label!r}, which is not registered"
            assert label in labels, f"{path.name}: no {{exercise}} is labelled {label!r}"
            assert "answer = ...\n# BEGIN SOLUTION" in cell.source and "# END SOLUTION" in cell.source


def test_the_student_kronecker_chapter_runs_and_its_checks_say_no_answer_yet(tmp_path):
    path = ROOT / "book" / "part3" / "kronecker_spectral.ipynb"
    student = student_edition.student_notebook(nbformat.read(path, as_version=4))
    resources = {"metadata": {"path": str(path.parent)}}
    NotebookClient(student, timeout=180, kernel_name="python3", resources=resources).execute()
    shown = [output.get("data", {}).get("text/plain", "") for cell in student.cells if "sa.check(" in cell.source
             for output in cell.outputs]
    assert len(shown) == 2 and all("No answer yet" in text for text in shown), shown
