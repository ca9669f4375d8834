"""A local Sphinx extension: the bibliography is labelled the way the text cites, by author and year.

``sphinxcontrib-bibtex`` cites author-year in the text (``bibtex_reference_style: author_year``)
but labels its lists with pybtex's ``plain`` style, ``[1]``, ``[2]``, ...  -- so a reader who sees
"Tomasi (2019)" looks in vain for it in a numbered list.  This registers a pybtex style
``authoryear`` (plain formatting, entries sorted by author and year, labels such as
``[Tomasi, 2019]``, ``[Baldi & Sadowski, 2013]``, ``[Sutskever et al., 2013]``) and selects it.
"""

from __future__ import annotations

import codecs

import latexcodec  # noqa: F401 -- registers the "ulatex" codec (a dependency of pybtex)
import pybtex.plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _plain(tex: str) -> str:
    return codecs.decode(tex, "ulatex").replace("{", "").replace("}", "")


def _names(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    last = [_plain(" ".join(p.last_names)) for p in people]
    if not last:  # an anonymous note is labelled by its title
        return _plain(entry.fields.get("title", entry.key))
    if len(last) == 1:
        return last[0]
    if len(last) == 2:
        return f"{last[0]} & {last[1]}"
    return f"{last[0]} et al."


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        labels = [f"{_names(e)}, {e.fields.get('year', 'n.d.')}" for e in sorted_entries]
        seen: dict[str, int] = {}
        for label in labels:
            seen[label] = seen.get(label, 0) + 1
        suffix: dict[str, int] = {}
        for label in labels:  # two works by the same authors in one year: 2013a, 2013b
            if seen[label] > 1:
                suffix[label] = suffix.get(label, 0) + 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[suffix[label] - 1]
            else:
                yield label


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = "author_year_title"


def setup(app):
    pybtex.plugin.register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
