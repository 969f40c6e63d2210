"""Insert, or refresh, the Colab install cell: the first code cell of every chapter named on the command line.

The cell installs the package from `_config.yml`'s repository address and branch, so that the launch buttons and
the install agree: run `python tools/colab_cell.py book/*/*.ipynb` after changing either. The cell does nothing
outside Colab (Jupyter, nbval, the book build) and is hidden on the site.
"""

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CELL_ID = "colab-install"


def cell_source() -> str:
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return f'''# On Google Colab only: install the book's package from its repository (nothing happens in Jupyter or the build).
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "simple-algebra @ git+{repository["url"]}@{repository["branch"]}"], check=True)
'''


def add_cell(path: Path) -> None:
    notebook = json.loads(path.read_text())
    cells = notebook["cells"]
    cell = {"cell_type": "code", "execution_count": None, "id": CELL_ID, "metadata": {"tags": ["remove-cell"]},
            "outputs": [], "source": cell_source().splitlines(keepends=True)}
    existing = [index for index, old in enumerate(cells) if old.get("id") == CELL_ID]
    if existing:
        cells[existing[0]] = cell
    else:
        cells.insert(next(index for index, old in enumerate(cells) if old["cell_type"] == "code"), cell)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        add_cell(Path(name))
