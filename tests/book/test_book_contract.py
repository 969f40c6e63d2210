"""The book's contract: what every chapter notebook must contain, and that the table of contents is complete."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
ARXIV_ID = re.compile(r"\b(\d{4}\.\d{4,5})\b")


def toc_files():
    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                yield node["file"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"], *walk(toc.get("parts", [])), *walk(toc.get("chapters", []))]


CHAPTERS = sorted(BOOK.rglob("*.ipynb"))
CHAPTERS = [path for path in CHAPTERS if ".ipynb_checkpoints" not in path.parts]


def load(path):
    return json.loads(path.read_text())


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


FIGURE_CALL = re.compile(r"plt\.(show|subplots|figure)\(")
CAPTION = re.compile(r"\*\*Figure (\d+)\.?\*\*")


def figure_cells(notebook):
    """The code cells that draw a figure (not the explorer, whose frames are HTML), with the caption after each."""
    cells = notebook["cells"]
    found = []
    for index, cell in enumerate(cells):
        text = source(cell)
        if cell["cell_type"] == "code" and FIGURE_CALL.search(text) and "explorer(" not in text:
            following = source(cells[index + 1]) if index + 1 < len(cells) else ""
            found.append((cell, following))
    return found


def alt_text(cell):
    return cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")


def test_there_is_at_least_one_chapter():
    assert CHAPTERS, "book/ has no chapter notebooks"


def test_toc_and_notebooks_match():
    listed = toc_files()
    for entry in listed:
        candidates = [ROOT / f"{entry}{suffix}" for suffix in ("", ".md", ".ipynb")]
        assert any(path.is_file() for path in candidates), f"_toc.yml lists {entry}, which does not exist"
    listed_notebooks = {str(Path(entry).with_suffix("")) for entry in listed}
    for notebook in CHAPTERS:
        assert str(notebook.relative_to(ROOT).with_suffix("")) in listed_notebooks, f"{notebook} is not in _toc.yml"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_chapter_contract(path):
    notebook = load(path)
    cells = notebook["cells"]
    first = cells[0]
    assert first["cell_type"] == "markdown" and source(first).lstrip().startswith("# "), "first cell: the title"
    arxiv = ARXIV_ID.search(source(first))
    assert arxiv, "the first cell must give the paper's arXiv id"
    cite = re.search(r"\{cite\}`([^`]+)`", source(first))
    assert cite, "the first cell must {cite} the paper"
    bibliography = (ROOT / "references.bib").read_text()
    entry = re.search(r"@\w+\{" + re.escape(cite.group(1).split(",")[0]) + r",(.*?)\n\}", bibliography, re.S)
    assert entry, f"{cite.group(1)} is not in references.bib"
    assert arxiv.group(1) in entry.group(1), "the cited entry must carry the same arXiv id"

    code = [source(cell) for cell in cells if cell["cell_type"] == "code"]
    markdown = "\n".join(source(cell) for cell in cells if cell["cell_type"] == "markdown")
    assert any(re.search(r"^\s*(import simple_algebra|from simple_algebra)", text, re.M) for text in code)
    assert any(re.search(r"^\s*assert ", text, re.M) for text in code), "a check cell with assertions"
    assert any("explorer(" in text for text in code), "an explorer"
    assert markdown.count("{exercise}") >= 2 and markdown.count("{solution}") >= 2, "two or more exercises"
    assert ":class: dropdown" in markdown, "solutions are hidden"
    assert re.search(r"^## Scaling up", markdown, re.M), "a 'Scaling up' section"
    for cell in cells:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, "committed without outputs"
    assert notebook["metadata"].get("kernelspec", {}).get("name") == "python3"
    # The sidebar, the page contents and the browser tab show headings as plain text, where $...$ stays raw.
    headings = [line for line in markdown.splitlines() if re.match(r"^#{1,6} ", line)]
    assert not [line for line in headings if "$" in line], "headings must not contain math"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_readme_lists_each_chapter(path):
    assert str(path.relative_to(ROOT)) in (ROOT / "README.md").read_text(), "the README's chapter table"


def test_code_never_imports_from_the_book():
    for module in (ROOT / "src").rglob("*.py"):
        assert "book" not in re.findall(r"^\s*(?:from|import)\s+(\w+)", module.read_text(), re.M), module


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_every_figure_has_a_caption_and_alt_text(path):
    """A reader who cannot see the plot gets its caption's first sentence (cell metadata ``mystnb.image.alt``)."""
    figures = figure_cells(load(path))
    assert figures, f"{path.stem} draws no figure"
    for number, (cell, following) in enumerate(figures, start=1):
        caption = CAPTION.match(following)
        assert caption, f"figure cell {cell.get('id')} is not followed by a '**Figure N.**' caption"
        assert int(caption.group(1)) == number, f"figures are numbered in order: {cell.get('id')}"
        alt = alt_text(cell)
        assert alt.startswith(f"Figure {number}: ") and len(alt) > 40, f"{cell.get('id')}: alt text {alt!r}"
        assert "$" not in alt and "\\" not in alt, f"{cell.get('id')}: alt text must be plain text, got {alt!r}"


# Prose numbers. A decimal (0.41, 2.7, 1e-3), a percentage (86%) or a factor (3x) written in a chapter's text must be
# either glued from the computation ({glue:text}`name:.2f`), or a value the chapter's code itself sets (a learning
# rate, a size: it appears in a code cell), or a constant of the theory listed in the notebook metadata (key
# "simple_algebra", then "theory_numbers") with the reason (e - 1 = 1.718, the 1.25 of the Gaussian mechanism).
# Anything else is a measured number typed by hand, which goes stale the day a seed or a size changes. Known gap:
# a measured value whose digits happen to appear in the code passes; integers are not checked.
PROSE_NUMBER = re.compile(r"(?<![\w.\-])-?\d+\.\d+(?:[eE][-+]?\d+)?(?!\w|\.\d)"
                          r"|(?<![\w.])\d+(?:\.\d+)?(?=\s*(?:x|×|%)(?!\w))")


def without_code_blocks(markdown):
    """The text with fenced code blocks removed; directive fences (````{solution}, ```{admonition}) stay prose."""
    kept, fences = [], []  # fences: (backticks, is_code) of the open blocks, innermost last
    for line in markdown.splitlines():
        fence = re.match(r"^\s*(`{3,}|:{3,})(.*)$", line)
        if fence:
            marks, info = fence.group(1), fence.group(2).strip()
            if fences and fences[-1][0] == marks and not info:
                fences.pop()
                continue
            if not (fences and fences[-1][1]):
                fences.append((marks, not info.startswith("{")))
                continue
        if not any(is_code for _, is_code in fences):
            kept.append(line)
    return "\n".join(kept)


def typed_numbers(notebook):
    """The numbers in the prose that neither glue, nor the code, nor the theory list accounts for."""
    code = "\n".join(source(cell) for cell in notebook["cells"] if cell["cell_type"] == "code")
    theory = notebook["metadata"].get("simple_algebra", {}).get("theory_numbers", {})
    typed = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = without_code_blocks(source(cell))
        text = re.sub(r"\{glue:[a-z]*\}`[^`]*`", "", text)
        text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
        text = ARXIV_ID.sub("", text)
        text = re.sub(r"\b(?:Theorem|Lemma|Corollary|Proposition|Definition|Section|Figure|Table|Algorithm|Eq\.|"
                      r"Equation|Assumption|Remark|Example)s?\s+[\d.]+", "", text)
        typed += [number for number in PROSE_NUMBER.findall(text)
                  if number not in theory and not re.search(rf"(?<![\w.]){re.escape(number)}(?![\w.])", code)]
    return typed


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_prose_numbers_are_computed(path):
    notebook = load(path)
    theory = notebook["metadata"].get("simple_algebra", {}).get("theory_numbers", {})
    assert all(isinstance(reason, str) and len(reason) > 10 for reason in theory.values()), "say why each is theory"
    typed = typed_numbers(notebook)
    assert not typed, f"{path.stem}: numbers typed into the prose (glue them, or list theory constants): {typed}"


def size_profiles(notebook):
    """Every ``sa.sizes(cpu=..., gpu=...)`` call of a chapter, as (cpu, gpu) pairs of the calls' keyword ASTs."""
    import ast

    pairs = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse(source(cell))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "sizes"
                    and getattr(node.func.value, "id", None) == "sa"):
                given = {keyword.arg: keyword.value for keyword in node.keywords}
                assert {"cpu", "gpu"} <= set(given) <= {"cpu", "gpu", "dry"}, "sa.sizes takes cpu=, gpu= (and dry=)"
                pairs.append((given["cpu"], given["gpu"], given.get("dry")))
    return pairs


def _size_kind(node):
    import ast

    if isinstance(node, (ast.List, ast.Tuple)) or (isinstance(node, ast.Call) and getattr(node.func, "id", "") in
                                                   {"list", "range", "tuple", "sorted"}):
        return "sequence"
    if isinstance(node, ast.Dict) or (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "dict"):
        return "mapping"
    return "scalar"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_gpu_profile_has_the_shape_of_the_cpu_profile(path):
    """The gpu profile has never run on CI: at least its sizes must name the same things as the cpu profile's, with
    values of the same kind (a list where the cpu has a list), so switching profiles cannot end in a KeyError."""
    import ast

    pairs = size_profiles(load(path))
    assert pairs, f"{path.stem} picks no sizes with sa.sizes"
    for cpu, gpu, dry in pairs:
        if isinstance(cpu, ast.Call) and isinstance(gpu, ast.Call):  # dict(...) on both sides
            cpu_keys = {keyword.arg: keyword.value for keyword in cpu.keywords}
            gpu_keys = {keyword.arg: keyword.value for keyword in gpu.keywords}
            differ = set(cpu_keys) ^ set(gpu_keys)
            assert not differ, f"{path.stem}: cpu and gpu sizes differ in {differ}"
            for key, value in cpu_keys.items():
                kinds = (_size_kind(value), _size_kind(gpu_keys[key]))
                assert kinds[0] == kinds[1], f"{path.stem}: {key} is a {kinds[0]} on cpu, a {kinds[1]} on gpu"
            for key, value in ({keyword.arg: keyword.value for keyword in dry.keywords} if dry else {}).items():
                assert key in gpu_keys, f"{path.stem}: dry names {key}, which the gpu sizes do not have"
                kinds = (_size_kind(gpu_keys[key]), _size_kind(value))
                assert kinds[0] == kinds[1], f"{path.stem}: {key} is a {kinds[0]} on gpu, a {kinds[1]} in dry"
        else:
            assert type(cpu) is type(gpu), f"{path.stem}: cpu and gpu sizes are of different kinds"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_colab_installs_the_package_from_the_configured_repository(path):
    """Colab's launch button opens a bare kernel: the first code cell installs the package there, from the address and
    branch that ``_config.yml`` gives the launch buttons, and only there (it is hidden on the site)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    expected = f"simple-algebra @ git+{config['repository']['url']}@{config['repository']['branch']}"
    first = next(cell for cell in load(path)["cells"] if cell["cell_type"] == "code")
    text = source(first)
    assert 'if "google.colab" in sys.modules:' in text, "the first code cell must be the guarded Colab install"
    assert "remove-cell" in first["metadata"].get("tags", []), "the Colab install cell is hidden on the site"
    installs = re.findall(r'"(simple-algebra @ [^"]+)"', text)
    assert installs == [expected], f"the Colab cell installs {installs}, _config.yml says {expected!r}"


def test_public_config_has_no_placeholder_hub():
    launch = yaml.safe_load((ROOT / "_config.yml").read_text()).get("launch_buttons", {})
    assert "jupyterhub_url" not in launch, "a JupyterHub address belongs in a course's own config, not the public one"
