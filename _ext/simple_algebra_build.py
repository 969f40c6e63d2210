"""Local Sphinx extension: switch the book build into static-explorer mode.

Notebooks execute in kernels started by the build, which inherit this process's environment. Setting the
variables here, before any notebook runs, makes every explorer render its frames as self-contained HTML and
keeps progress bars out of the pages; readers and nbval need no flag.
"""

import os


def setup(app):
    os.environ["SIMPLE_ALGEBRA_EXPLORER"] = "static"
    os.environ["SIMPLE_ALGEBRA_QUIET"] = "1"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
