"""nbgrader settings for `make check` and JupyterLab's Validate button (both read this file)."""

c = get_config()  # noqa: F821  (provided by nbgrader/traitlets when this file is loaded)

# A cell of a lab runs in seconds; the instructor's grading allows two minutes per cell, and so
# does the check (nbgrader's default, 30 s, is short for a slow laptop).
c.Execute.timeout = 120
