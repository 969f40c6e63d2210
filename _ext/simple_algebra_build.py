"""Local Sphinx extension for the Simple Algebra book.

1. Switches the build into static-explorer mode. Notebooks execute in kernels started by the build, which
   inherit this process's environment: setting the variables here, before any notebook runs, makes every
   explorer render its frames as self-contained HTML and keeps progress bars out of the pages. Readers and
   nbval need no flag.
2. Draws figures inline, whatever backend the caller chose. A test session sets ``MPLBACKEND=Agg`` (no GUI
   windows), and kernels started by the build inherited it: ``plt.show()`` then drew nothing and every page lost
   its figures. The build's kernels always use the inline backend, which puts each figure in the page.
3. Drops scripts that were registered twice. sphinx-thebe adds its inline configuration each time the
   environment reads documents, and under Jupyter Book that happens twice, so the page declared
   `const THEBE_JS_URL` twice and the browser reported a SyntaxError on every page.
"""

import os

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


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
    # Late (priority 900): other extensions add page scripts in their own html-page-context handlers.
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
