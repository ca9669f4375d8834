"""How strict nbval treats the chapters' glued values.

A chapter prints what its run *determines* -- asserted verdicts, exact
results -- and those outputs are compared cell by cell.  Numbers that the run
*measures* (an accuracy after training, a loss after 20 epochs) depend on the
BLAS kernel in their last digits, so the chapters glue them into the prose
(``myst_nb.glue(..., display=False)``) instead of printing them, and assert in
the same cell whatever the prose claims about them.  A glued value is stored
as an output with a ``application/papermill.record/...`` MIME type; this hook
leaves exactly those entries out of nbval's comparison.  Everything else in
every cell -- text, LaTeX, HTML, errors, warnings on stderr -- is compared.
"""

from __future__ import annotations

GLUE_PREFIX = "application/papermill.record/"
GLUED_MIME_TYPES = tuple(
    GLUE_PREFIX + mime
    for mime in (
        "text/plain",
        "text/html",
        "text/markdown",
        "text/latex",
        "image/png",
        "image/svg+xml",
        "application/json",
    )
)


def pytest_collection_modifyitems(items):
    for item in items:
        notebook = item.parent
        skip = getattr(notebook, "skip_compare", None)
        if skip is not None and GLUED_MIME_TYPES[0] not in skip:
            notebook.skip_compare = skip + GLUED_MIME_TYPES
