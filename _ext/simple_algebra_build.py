"""Local Sphinx extension for the Simple Algebra book.

1. Switches the build into static-explorer mode. Notebooks execute in kernels started by the build, which
   inherit this process's environment: setting the variables here, before any notebook runs, makes every
   explorer render its frames as self-contained HTML and keeps progress bars out of the pages. Readers and
   nbval need no flag.
2. Draws figures inline, whatever backend the caller chose. A test session sets ``MPLBACKEND=Agg`` (no GUI
   windows), and kernels started by the build inherited it: ``plt.show()`` then drew nothing and every page lost
   its figures. The build's kernels always use the inline backend, which puts each figure in the page.
3. Serves MathJax from the site itself. The pinned PyPI package ``django-static-mathjax`` (MathJax 3.2.2, no
   Django needed) holds the files; the parts a page can load (the combined TeX component, its fonts, the TeX
   extensions it loads on demand, the menu and the accessibility components) are copied into ``_static/mathjax``
   and ``mathjax_path`` in ``_config.yml`` points there. Offline, in a classroom or behind a firewall, formulas
   still render, and a page makes no third-party request at all.
4. Adds the book's own stylesheet (``book/_static/simple-algebra.css``: link colours inside boxes that meet WCAG
   AA contrast).
5. Drops scripts that were registered twice. sphinx-thebe adds its inline configuration each time the
   environment reads documents, and under Jupyter Book that happens twice, so the page declared
   `const THEBE_JS_URL` twice and the browser reported a SyntaxError on every page.
"""

import importlib.resources
import os
import shutil
from pathlib import Path

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
# What of MathJax's es5 folder a page can request: the component, its fonts, and what it loads on demand.
MATHJAX_PARTS = ("tex-mml-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions", "ui", "a11y", "sre")


def mathjax_source() -> Path:
    return Path(str(importlib.resources.files("mathjax"))) / "static" / "mathjax" / "es5"


def stage_mathjax(app):
    """Copy the pinned MathJax into a folder beside the doctrees and add it to the site's static files."""
    source = mathjax_source()
    if not (source / MATHJAX_PARTS[0]).is_file():
        raise RuntimeError(f"MathJax is not installed where expected ({source}): pip install -r requirements.txt")
    staged = Path(app.doctreedir).parent / "mathjax-static"
    target = staged / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    for part in MATHJAX_PARTS:
        origin, copy = source / part, target / part
        copy.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, copy)
        else:
            shutil.copy2(origin, copy)
    own = Path(app.confdir) / "book" / "_static"
    app.config.html_static_path = [*app.config.html_static_path, str(staged), str(own)]


def drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        # An inline script is registered once with filename None and once with '': same script.
        key = (getattr(script, "filename", None) or "", repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    os.environ["SIMPLE_ALGEBRA_EXPLORER"] = "static"
    os.environ["SIMPLE_ALGEBRA_QUIET"] = "1"
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    app.connect("builder-inited", stage_mathjax)
    app.add_css_file("simple-algebra.css")
    # Late (priority 900): other extensions add page scripts in their own html-page-context handlers.
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
