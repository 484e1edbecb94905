"""``make site``: the course as a static web site (Jupyter Book 1), built offline.

The source tree is assembled in ``build/site-src`` so that the repository stays clean:

- ``_config.yml`` from ``docs/`` (:func:`site_config`: the launch and repository links are
  built from its one ``repository.url`` setting, and appear only when it is set), and a
  ``_toc.yml`` listing every notebook in reading order, then the references;
- the landing page ``index.md`` from ``docs/intro.md`` (:func:`landing_page`: a "Start with
  notebook 1" button, the total time, one card per notebook with its thumbnail and time), so
  that ``index.html`` is the landing page itself;
- ``references.md``, the bibliography of ``docs/references.bib`` (sphinxcontrib-bibtex),
  and the other Markdown pages next to the notebooks (``notebooks/notation.md``), after the
  notebooks (``notebooks/README.md``, the index for JupyterLab, is the landing page's job);
- the committed, executed notebooks, never re-executed (``execute_notebooks: "off"``), as
  the reader should see them (:func:`site_notebook`): test markers (``# NBVAL_...``) removed,
  navigation links pointed at the landing page, a note on running the notebook yourself,
  author-year citations linked to the references, and each widget's saved controls
  disabled under a note, above it, that the page is static;
- ``_static/`` from ``docs/_static`` (Jupyter Book puts each of its scripts and stylesheets
  on every page), and ``_static/widgets/``: the ipywidgets HTML manager (``embed.js`` and its
  fonts) from the npm package :data:`HTML_MANAGER`, fetched once with ``npm pack`` into
  ``build/site-cache`` and checked against its published sha512 integrity, loaded only on
  pages that show widgets. MathJax comes from the ``sphinx-mathjax-offline`` package.
  No page loads anything from another host.

Sphinx then builds ``build/html`` with warnings as errors (``-W --keep-going``), and
:func:`finish` trims the output: the download button gives the *original* notebook, pages
without maths or widgets load no MathJax, no page loads Font Awesome's 1.5 MB script (the
theme's stylesheet draws its few icons with the icon font), and only the part of MathJax
that the pages use is kept.

Usage::

    python -m tools.build_site [--out build/html]
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import nbformat
import yaml

from tools.course_index import FIGURES, INDEX_END, INDEX_START, ROOT, Entry, course

__all__ = [
    "CITATIONS",
    "HTML_MANAGER",
    "MATHJAX_KEEP",
    "build",
    "disable_widgets",
    "solution_parts",
    "solutions_path",
    "with_solutions",
    "finish",
    "html_manager",
    "landing_page",
    "link_citations",
    "main",
    "myst_math_problems",
    "prepare_source",
    "repository",
    "site_config",
    "site_notebook",
    "strip_test_markers",
]

# @jupyter-widgets/html-manager 1.x renders ipywidgets 8 state; the integrity is npm's.
HTML_MANAGER = {
    "spec": "@jupyter-widgets/html-manager@1.0.15",
    "tarball": "jupyter-widgets-html-manager-1.0.15.tgz",
    "integrity": "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//"
    "SABeNz1yp47bCrJ3CQA==",
}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
BINDER = "https://mybinder.org"
#: What of sphinx-mathjax-offline's MathJax the site keeps (relative to _static/mathjax): the
#: components docs/_config.yml loads (mathjax3_config), their fonts and the TeX extensions
#: that may be autoloaded.
MATHJAX_KEEP = (
    "startup.js", "core.js", "input/tex.js", "input/tex/extensions", "output/chtml.js",
    "output/chtml/fonts/tex.js", "output/chtml/fonts/woff-v2", "a11y/assistive-mml.js",
)

# --- configuration --------------------------------------------------------------------------


def repository(config: dict) -> tuple[str, str]:
    """``(url, branch)`` of the course repository from ``_config.yml`` (url "" when unset).

    ``ValueError`` when the url is set but not an ``https://`` address.
    """
    repo = config.get("repository") or {}
    url = str(repo.get("url") or "").strip().rstrip("/")
    if url.endswith(".git"):
        url = url[:-4]
    if url and not re.match(r"^https://[^/\s]+/\S+$", url):
        raise ValueError(
            f"docs/_config.yml: repository.url must be an https:// address such as "
            f"https://github.com/OWNER/REPO, got {url!r}"
        )
    return url, str(repo.get("branch") or "main")


def launch_links(url: str, branch: str, notebook: str) -> dict[str, str]:
    """Links to run or read ``notebook`` (a path in the repository), from the repository url.

    Empty when ``url`` is empty; the Binder link only for a GitHub repository.
    """
    if not url:
        return {}
    links = {"repository": url, "notebook": f"{url}/blob/{branch}/{notebook}"}
    m = re.match(r"^https://github\.com/([^/]+)/([^/]+)$", url)
    if m:
        links["binder"] = (
            f"{BINDER}/v2/gh/{m.group(1)}/{m.group(2)}/{branch}?urlpath=lab/tree/{notebook}"
        )
    return links


def site_config(config: dict) -> dict:
    """The Jupyter Book configuration the site is built with, from ``docs/_config.yml``.

    Everything that links to the repository or launches a notebook follows
    ``repository.url``: set, the theme shows the repository button and Binder launch
    buttons; unset, no page carries such a link (not even Jupyter Book's own default
    repository).
    """
    cfg = copy.deepcopy(config)
    url, branch = repository(config)
    cfg["repository"] = {"url": url, "branch": branch, "path_to_book": ""}
    html = cfg.setdefault("html", {})
    launch = cfg.setdefault("launch_buttons", {})
    html["use_repository_button"] = bool(url)
    html["use_issues_button"] = False
    html["use_edit_page_button"] = False
    launch["thebe"] = False
    launch["colab_url"] = ""
    launch["binderhub_url"] = BINDER if "binder" in launch_links(url, branch, "x") else ""
    launch["notebook_interface"] = "jupyterlab"
    sphinx = cfg.setdefault("sphinx", {}).setdefault("config", {})
    theme = sphinx.setdefault("html_theme_options", {})
    theme["repository_url"] = url
    theme["repository_branch"] = branch
    return cfg


# --- notebooks as the site shows them --------------------------------------------------------

_MARKER = re.compile(r"^[ \t]*#[ \t]*NBVAL_[A-Z_]+[ \t]*\n?", re.MULTILINE)


def strip_test_markers(source: str) -> str:
    """``source`` without its ``# NBVAL_...`` lines (test plumbing, not for readers)."""
    return _MARKER.sub("", source).lstrip("\n")


def disable_widgets(nb: nbformat.NotebookNode) -> int:
    """Mark every saved control in ``nb``'s widget state as disabled; returns how many.

    On a static page no kernel answers a control, so a slider that moves would promise a
    figure that never comes.
    """
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    n = 0
    for model in state.values():
        s = model.get("state", {})
        if "disabled" in s:
            s["disabled"] = True
            n += 1
    return n


def _year(year: str) -> str:
    """A year as cited: ``1977``, ``(1977)`` or ``(1977, p. 3)`` (a closing parenthesis
    only when its opening one is there too)."""
    return rf"(?:\({year}[a-z]?\)|\({year}[a-z]?(?=[,;])|{year}[a-z]?)"


_AND = r"(?:&|and)"
#: key in docs/references.bib -> the ways the notebooks cite it (regular expressions).
CITATIONS: dict[str, list[str]] = {
    "dempster1977": [rf"Dempster,? Laird,? {_AND} Rubin,? {_year(1977)}", rf"DLR,? {_year(1977)}"],
    "louis1982": [rf"\bLouis(?:'s?)?,? {_year(1982)}", r"\*\*Louis' formula\*\* \(1982\)"],
    "meng1991": [rf"Meng {_AND} Rubin,? {_year(1991)}"],
    "meng1993": [rf"Meng {_AND} Rubin,? {_year(1993)}"],
    "varadhan2008": [rf"Varadhan {_AND} Roland,? {_year(2008)}"],
    "givens2013": [rf"Givens {_AND} Hoeting(?:,? {_year(2013)})?"],
    "wu1983": [rf"\bWu(?:'s)?,? {_year(1983)}"],
    "boyles1983": [rf"Boyles,? {_year(1983)}"],
    "jamshidian2000": [rf"Jamshidian {_AND} Jennrich,? {_year(2000)}"],
    "fraley2007": [rf"Fraley {_AND} Raftery,? {_year(2007)}"],
    "zucchini2016": [
        rf"Zucchini(?: et al\.|,? MacDonald,? {_AND} Langrock)(?:,? {_year(2016)})?"
    ],
    "little2002": [rf"Little {_AND} Rubin(?:,? {_year('(?:1987|2002|2019)')})?"],
    "liu1994": [rf"Liu {_AND} Rubin,? {_year(1994)}"],
    "liu1995": [rf"Liu {_AND} Rubin,? {_year(1995)}"],
    "liu1998": [rf"Liu,? Rubin,? {_AND} Wu,? {_year(1998)}"],
    "meng1997": [rf"Meng {_AND} van Dyk,? {_year(1997)}"],
    "neal1998": [rf"Neal {_AND} Hinton,? {_year(1998)}"],
    "cappe2009": [rf"Capp[ée] {_AND} Moulines,? {_year(2009)}"],
    "do2008": [rf"Do {_AND} Batzoglou(?:,? {_year(2008)})?"],
    "hasselblad1969": [rf"Hasselblad(?:'s)?,? {_year(1969)}"],
    "heitjan1991": [rf"Heitjan {_AND} Rubin,? {_year(1991)}"],
    "orchard1972": [rf"Orchard {_AND} Woodbury,? {_year(1972)}"],
    "rubin1976": [rf"\bRubin,? {_year(1976)}"],
    "rubin1987": [rf"\bRubin,? {_year(1987)}"],
    "schafer1997": [rf"Schafer,? {_year(1997)}"],
    "anderson1957": [rf"Anderson,? {_year(1957)}"],
    "beaton1964": [rf"Beaton,? {_year(1964)}"],
    "arthur2007": [rf"Arthur {_AND} Vassilvitskii,? {_year(2007)}"],
    "biernacki2000": [rf"Biernacki,? Celeux,? {_AND} Govaert,? {_year(2000)}"],
    "biernacki2003": [rf"Biernacki,? Celeux,? {_AND} Govaert,? {_year(2003)}"],
    "mclachlan1987": [rf"McLachlan,? {_year(1987)}"],
    "mclachlan2008": [rf"McLachlan {_AND} Krishnan(?:,? {_year(2008)})?"],
    "kass1995": [rf"Kass {_AND} Raftery,? {_year(1995)}"],
    "mclachlan2000": [rf"McLachlan {_AND} Peel,? {_year(2000)}"],
    "hubert1985": [rf"Hubert {_AND} Arabie,? {_year(1985)}"],
    "banfield1993": [rf"Banfield {_AND} Raftery,? {_year(1993)}"],
    "bohning1994": [rf"Böhning et al\.?,? {_year(1994)}"],
    "henderson2019": [rf"Henderson {_AND} Varadhan,? {_year(2019)}"],
    "baum1970": [rf"Baum(?: et al\.|,? Petrie,? Soules,? {_AND} Weiss),? {_year(1970)}"],
    "rabiner1989": [rf"Rabiner,? {_year(1989)}"],
    "hardle1991": [rf"Härdle,? {_year(1991)}"],
    "stigler1977": [rf"Stigler,? {_year(1977)}"],
    "dempster1980": [rf"Dempster,? Laird,? {_AND} Rubin,? {_year(1980)}"],
    "lange1989": [rf"Lange,? Little,? {_AND} Taylor,? {_year(1989)}"],
    "kent1994": [rf"Kent,? Tyler,? {_AND} Vardi,? {_year(1994)}"],
    "efron2004": [rf"Efron,? Hastie,? Johnstone,? {_AND} Tibshirani,? {_year(2004)}"],
    "azzalini1990": [rf"Azzalini {_AND} Bowman,? {_year(1990)}"],
}
# (a citation may break across lines of the markdown source: any space may be a line break)
_CITE = re.compile(
    "|".join(f"(?P<{key}>{'|'.join(pats)})" for key, pats in CITATIONS.items()).replace(
        " ", r"\s+"
    )
)
# what a citation must not be looked for in: code, maths, links, HTML, headings
_PROTECTED = re.compile(
    r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$|!?\[[^\]]*\]\([^)]*\)|<[^>\n]*>|^#[^\n]*",
    re.DOTALL | re.MULTILINE,
)


def link_citations(markdown: str, references: str) -> tuple[str, set[str]]:
    """``markdown`` with each author-year citation of :data:`CITATIONS` linked to its entry
    on the page ``references`` (e.g. ``../references.html``); the keys found.

    The citation keeps its words; it becomes an HTML link to ``references#cite-<key>``.
    Code, maths, links, HTML and headings are left alone.
    """
    found: set[str] = set()

    def link(m: re.Match) -> str:
        key = m.lastgroup
        assert key is not None
        found.add(key)
        return f'<a class="citation-link" href="{references}#cite-{key}">{m.group(0)}</a>'

    out, pos = [], 0
    for p in _PROTECTED.finditer(markdown):
        out.append(_CITE.sub(link, markdown[pos : p.start()]))
        out.append(p.group(0))
        pos = p.end()
    out.append(_CITE.sub(link, markdown[pos:]))
    return "".join(out), found


_TEX_LEFT = re.compile(r"\$|\\[A-Za-z]+")


def myst_math_problems(markdown: str) -> list[str]:
    """Text that the site's MyST parser leaves as raw TeX in ``markdown`` (empty: none).

    MyST reads block structure before maths: a line inside ``$...$`` that starts with "+",
    "-" or "*" becomes a list item, a ``$$...$$`` inside a paragraph is not display maths,
    and then the maths falls apart into ``$``, ``\\command`` and ``\\,``-eaten text that a
    reader sees (JupyterLab protects maths first and shows it right). This parses like the
    site does (markdown-it with MyST's dollarmath and amsmath) and returns the pieces of
    plain text that still hold a ``$`` or a ``\\command``; the browser test checks the
    built pages the same way.
    """
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    parser = create_md_parser(
        MdParserConfig(enable_extensions={"dollarmath", "amsmath", "colon_fence"}), RendererHTML
    )
    found = []
    for token in parser.parse(markdown):
        for child in token.children or []:
            if child.type == "text" and _TEX_LEFT.search(child.content):
                found.append(child.content)
    return found


def _note(kind: str, text: str) -> str:
    return f"```{{{kind}}}\n{text}\n```"


def widget_note(links: dict[str, str]) -> str:
    """The note above each explorer on a site page."""
    where = "run `make app` (the explorers alone) or `make lab` in a clone of the course"
    where += " repository" if not links else f" [repository]({links['repository']})"
    if "binder" in links:
        where += f", or [open this notebook on Binder]({links['binder']})"
    return _note(
        "note",
        "**This page is static.** The explorer below shows the figure the notebook was "
        "saved with, and its controls are disabled: moving them re-runs EM, which needs a "
        f"running Python kernel. To move them, {where}.",
    )


def run_it_yourself(links: dict[str, str]) -> str:
    """The line under each notebook's navigation: how to run the original notebook."""
    text = (
        "*Run it yourself:* the download button at the top of the page gives this notebook "
        "as it is in the repository. It imports the course's package `em_helpers`, "
    )
    if links:
        text += (
            f"which `pip install \"em_helpers[lab] @ git+{links['repository']}\"` installs "
            "(or `make lab` in a clone of the repository)"
        )
        if "binder" in links:
            text += f"; or [run it on Binder]({links['binder']}) with nothing to install"
    else:
        text += (
            "which `make lab` in a clone of the course repository installs with everything "
            "the notebooks need"
        )
    return text + "."


def site_notebook(
    nb: nbformat.NotebookNode, links: dict[str, str], references: str = "../references.html",
    solutions: nbformat.NotebookNode | None = None,
) -> tuple[nbformat.NotebookNode, set[str]]:
    """A copy of ``nb`` as the site shows it (see the module notes); the citation keys found.

    ``solutions``: its solutions notebook, spliced in after the exercises
    (:func:`with_solutions`)."""
    nb = copy.deepcopy(nb)
    if solutions is not None:
        with_solutions(nb, solutions)
    disable_widgets(nb)
    cells, keys = [], set()
    for cell in nb.cells:
        nav = cell.metadata.get("course_nav")
        if cell.cell_type == "code":
            cell.source = strip_test_markers(cell.source)
            outputs = cell.get("outputs", [])
            if any(WIDGET_VIEW in out.get("data", {}) for out in outputs):
                note = nbformat.v4.new_markdown_cell(widget_note(links))
                note.id = f"static-widget-note-{len(cells)}"
                cells.append(note)
                tags = cell.metadata.setdefault("tags", [])
                if "hide-input" not in tags:
                    tags.append("hide-input")  # the page shows the explorer, not its code
        elif cell.cell_type == "markdown":
            if cell.metadata.get("solutions_nav"):  # a solutions page: back to its notebook
                cell.source = cell.source.replace("](../README.md)", "](../../index.md)")
            elif nav:
                cell.source = cell.source.replace("](README.md)", "](../index.md)")
                if nav == "header":
                    cell.source += "\n\n" + run_it_yourself(links)
            else:
                cell.source, found = link_citations(cell.source, references)
                keys |= found
        cells.append(cell)
    nb.cells = cells
    return nb, keys


# --- exercises and their solutions -------------------------------------------------------

_EXERCISE = re.compile(r"^###\s+Exercise\s+(\d\d\.\d+)\b")
_SOLUTION = re.compile(r"^##\s+Solution\s+(\d\d\.\d+)\b[^\n]*\n?")
_HEADING = re.compile(r"^#{1,6}\s")


def solution_parts(sol: nbformat.NotebookNode) -> dict[str, list[nbformat.NotebookNode]]:
    """The cells of each "## Solution NN.k" section of a solutions notebook, by id."""
    parts: dict[str, list[nbformat.NotebookNode]] = {}
    current = None
    for cell in sol.cells:
        m = _SOLUTION.match(cell.source) if cell.cell_type == "markdown" else None
        if m:
            current = m.group(1)
            parts[current] = [cell]
        elif current is not None:
            parts[current].append(cell)
    return parts


def _text_outputs(cell: nbformat.NotebookNode) -> str:
    text = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            text.append(out.get("text", ""))
        elif "text/plain" in out.get("data", {}) and not any(
            k.startswith("image/") for k in out.get("data", {})
        ):
            text.append(out["data"]["text/plain"] + "\n")
    return "".join(text).rstrip("\n")


def solution_cells(id: str, cells: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """One solution as the site shows it: a collapsed dropdown holding its text, its code and
    the code's printed output; a code cell with a figure follows, itself collapsed."""
    title = _SOLUTION.match(cells[0].source).group(0).strip().lstrip("#").strip()
    body, figures = [], []
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            source = _SOLUTION.sub("", cell.source, count=1) if i == 0 else cell.source
            if any(_HEADING.match(line) for line in source.splitlines()):
                raise ValueError(f"solution {id}: a heading inside a solution cannot go in a "
                                 f"dropdown; use bold text")
            body.append(source.strip())
        elif cell.cell_type == "code":
            body.append(f"```python\n{strip_test_markers(cell.source).strip()}\n```")
            printed = _text_outputs(cell)
            if printed:
                body.append(f"```text\n{printed}\n```")
            if any(k.startswith("image/") for out in cell.get("outputs", [])
                   for k in out.get("data", {})):
                fig = copy.deepcopy(cell)
                fig.metadata["tags"] = ["hide-input"]
                figures.append(fig)
    drop = nbformat.v4.new_markdown_cell(
        f"::::{{admonition}} {title}\n:class: dropdown\n\n" + "\n\n".join(b for b in body if b)
        + "\n::::"
    )
    drop.id = f"solution-{id.replace('.', '-')}"
    for k, fig in enumerate(figures):
        fig.id = f"solution-{id.replace('.', '-')}-figure-{k}"
    return [drop, *figures]


def with_solutions(
    nb: nbformat.NotebookNode, sol: nbformat.NotebookNode
) -> nbformat.NotebookNode:
    """``nb`` with each exercise followed by its solution (:func:`solution_cells`) and the
    check outputs ("not answered yet") of its exercise cells removed."""
    parts = solution_parts(sol)
    cells, current, seen = [], None, set()

    def close() -> None:
        if current is not None:
            if current not in parts:
                raise ValueError(f"exercise {current} has no '## Solution {current}' section")
            cells.extend(solution_cells(current, parts[current]))
            seen.add(current)

    for cell in nb.cells:
        m = _EXERCISE.match(cell.source) if cell.cell_type == "markdown" else None
        if m or (cell.cell_type == "markdown" and _HEADING.match(cell.source)) or \
                cell.metadata.get("course_nav"):
            close()
            current = m.group(1) if m else None
        if cell.cell_type == "code" and "check(" in cell.source:
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    close()
    extra = sorted(set(parts) - seen)
    if extra:
        raise ValueError(f"solutions {extra} answer no exercise of the notebook")
    nb.cells = cells
    return nb


# --- the landing page --------------------------------------------------------------------------


def _cards(entries: list[Entry], root: Path = ROOT) -> str:
    """A sphinx-design grid: one card a notebook (thumbnail, title, time, description)."""
    cards = ["::::{grid} 1 1 2 2", ":gutter: 3", ":class-container: course-cards", ""]
    for e in entries:
        cards += [
            f":::{{grid-item-card}} {e.number}. {e.short_title}",
            f":link: {e.path.with_suffix('').as_posix()}",
            ":link-type: doc",
            ":class-card: course-card",
        ]
        if (root / e.thumbnail).is_file():  # (a brand-new notebook may not have one yet)
            cards += [f":img-top: {e.thumbnail.as_posix()}",
                      f":img-alt: key figure of notebook {e.number}"]
        cards += ["", f"**about {e.minutes} min** · {e.description}", ":::", ""]
    cards.append("::::")
    return "\n".join(cards)


def landing_page(
    intro: str, entries: list[Entry], links: dict[str, str], root: Path = ROOT
) -> str:
    """The site's ``index.md`` from ``docs/intro.md`` and the course.

    ``docs/intro.md`` holds the prose; its marker comments are replaced by the "Start with
    notebook 1" button (``<!-- course-start ...-->``), the total time (``<!-- course-time
    ...-->``), the cards between the course-index markers and the repository and Binder
    links (``<!-- course-launch ...-->``, nothing when the repository is not set).
    """
    first = entries[0]
    start = (
        f"```{{button-ref}} {first.path.with_suffix('').as_posix()}\n"
        ":ref-type: doc\n:color: primary\n:class: course-start\n\n"
        f"Start with notebook 1: {first.short_title} →\n```"
    )
    total = sum(e.minutes for e in entries)
    hours = f"About {total / 60:.0f} hours for all {len(entries)} notebooks."
    launch = ""
    if links:
        launch = f"The course's source is [its repository]({links['repository']})."
        if "binder" in links:
            launch += (
                f" To run the notebooks without installing anything, [open the course on "
                f"Binder]({links['binder'].split('?')[0]}) (it builds `environment.yml`)."
            )
    text = intro
    for name, value in (("course-start", start), ("course-time", hours),
                        ("course-launch", launch)):
        text, n = re.subn(rf"<!-- {name}\b.*?-->", lambda _m, v=value: v, text, flags=re.S)
        if n != 1:
            raise ValueError(f"docs/intro.md: needs one <!-- {name} ... --> marker, found {n}")
    start_at, end_at = text.find(INDEX_START[:20]), text.find(INDEX_END)
    if start_at < 0 or end_at < start_at:
        raise ValueError(
            f"docs/intro.md: no course index markers ({INDEX_START[:20]}... and {INDEX_END})"
        )
    # the page's own contents list would squeeze the cards: this page goes without it
    front = "---\nhtml_theme.sidebar_secondary.remove: true\n---\n\n"
    return front + text[:start_at] + _cards(entries, root) + text[end_at + len(INDEX_END) :]


REFERENCES_PAGE = """\
# References

Every work the notebooks cite; each author-year citation in a notebook links here.

```{bibliography}
:all:
```
"""

# --- assembling and building -------------------------------------------------------------------


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def html_manager(cache: Path) -> Path:
    """The checked npm tarball of the widget HTML manager in ``cache`` (``npm pack`` if absent)."""
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / HTML_MANAGER["tarball"]
    if not tarball.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "make site needs npm (Node.js) to fetch "
                f"{HTML_MANAGER['spec']} once; install Node.js and npm (Debian: apt-get "
                "install npm) or put the tarball into " + str(cache)
            )
        subprocess.run(
            [npm, "pack", HTML_MANAGER["spec"], "--pack-destination", str(cache), "--silent"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    got = _integrity(tarball)
    if got != HTML_MANAGER["integrity"]:
        tarball.unlink()
        raise RuntimeError(
            f"{tarball.name}: integrity {got} is not the published "
            f"{HTML_MANAGER['integrity']}; removed it, run make site again"
        )
    return tarball


def _copy_widget_js(tarball: Path, static: Path) -> None:
    """``dist/embed.js``, its licence and its woff2 fonts from ``tarball`` into ``static``.

    (The stylesheet also names .eot/.woff/.ttf/.svg copies of the fonts, for old browsers
    only; a browser that reads the page's JavaScript takes the woff2.)
    """
    static.mkdir(parents=True, exist_ok=True)
    keep = (".js", ".txt", ".woff2")
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            name = member.name
            if not member.isfile() or not name.startswith("package/dist/"):
                continue
            base = name.rsplit("/", 1)[1]
            if base in ("embed-amd.js", "libembed-amd.js") or not base.endswith(keep):
                continue
            src = tar.extractfile(member)
            assert src is not None
            (static / base).write_bytes(src.read())


#: Appended to the conf.py that ``jupyter-book config sphinx`` writes.
CONF_OVERRIDES = """
# --- tools/build_site.py --------------------------------------------------------------------
# Jupyter Book puts every script under _static on every page; the widget scripts belong only
# on pages with widgets, where myst-nb adds them (nb_ipywidgets_js).
html_js_files = [f for f in html_js_files if not str(f).startswith("widgets/")]
_mathjax_path = mathjax_path


def setup(app):
    # sphinx-mathjax-offline sets mathjax_path to its all-in-one tex-chtml.js when it loads;
    # the site loads the smaller set of components that docs/_config.yml names
    app.config.mathjax_path = _mathjax_path
"""


def load_config(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "docs" / "_config.yml").read_text(encoding="utf-8"))


def solutions_path(notebook: Path) -> Path:
    """``notebooks/solutions/<name>``: the solutions notebook of ``notebook``."""
    return notebook.parent / "solutions" / notebook.name


def _chapter(e: Entry, root: Path) -> dict:
    chapter: dict = {"file": e.path.with_suffix("").as_posix()}
    if (root / solutions_path(e.path)).exists():
        chapter["sections"] = [{"file": solutions_path(e.path).with_suffix("").as_posix()}]
    return chapter


def prepare_source(src: Path, root: Path = ROOT, cache: Path | None = None) -> list[Path]:
    """Assemble the Jupyter Book source tree in ``src`` (emptied first); returns the notebooks."""
    entries = course(root)
    config = load_config(root)
    url, branch = repository(config)
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    (src / "_config.yml").write_text(
        yaml.safe_dump(site_config(config), sort_keys=False), encoding="utf-8"
    )
    shutil.copytree(root / "docs" / "_static", src / "_static")
    shutil.copy(root / "docs" / "references.bib", src / "references.bib")
    (src / "references.md").write_text(REFERENCES_PAGE, encoding="utf-8")
    intro = (root / "docs" / "intro.md").read_text(encoding="utf-8")
    links = launch_links(url, branch, "")
    (src / "index.md").write_text(landing_page(intro, entries, links, root), encoding="utf-8")
    shutil.copytree(root / FIGURES, src / FIGURES)
    # the course's other pages next to the notebooks (the notation table, ...), after them
    extra = sorted(p for p in (root / "notebooks").glob("*.md") if p.name != "README.md")
    for page in extra:
        text, _ = link_citations(page.read_text(encoding="utf-8"), "../references.html")
        (src / "notebooks" / page.name).write_text(text, encoding="utf-8")
    toc = {
        "format": "jb-book",
        "root": "index",
        "chapters": [_chapter(e, root) for e in entries]
        + [{"file": f"notebooks/{page.stem}"} for page in extra]
        + [{"file": "references"}],
    }
    (src / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    for e in entries:
        nb = nbformat.read(root / e.path, as_version=4)
        sol_path = solutions_path(e.path)
        sol = nbformat.read(root / sol_path, as_version=4) if (root / sol_path).exists() else None
        page, _ = site_notebook(nb, launch_links(url, branch, e.path.as_posix()), solutions=sol)
        nbformat.write(page, src / e.path)
        if sol is not None:
            (src / sol_path).parent.mkdir(exist_ok=True)
            sol_page, _ = site_notebook(sol, launch_links(url, branch, sol_path.as_posix()),
                                        references="../../references.html")
            nbformat.write(sol_page, src / sol_path)
    tarball = html_manager(cache or root / "build" / "site-cache")
    _copy_widget_js(tarball, src / "_static" / "widgets")
    return [src / e.path for e in entries]


_FONTAWESOME = re.compile(r'[ \t]*<script[^>]*src="[^"]*scripts/fontawesome\.js[^"]*"></script>\n?')
_MATHJAX = re.compile(
    r'[ \t]*<script>window\.MathJax = .*?</script>\n?|'
    r'[ \t]*<script[^>]*src="[^"]*mathjax/startup\.js[^"]*"></script>\n?',
    re.DOTALL,
)


def finish(out: Path, root: Path = ROOT) -> dict[str, int]:
    """Trim the built site in ``out``; counts of what was done.

    - ``_sources/notebooks/*.ipynb`` (the download button) become the original notebooks;
    - no page loads ``fontawesome.js`` (the theme's stylesheet draws its icons with the
      icon font), and the script is removed, with source maps, the icon fonts' TrueType
      copies and the theme's translation catalogues, which no page loads either;
    - a page with no maths and no widget loads no MathJax;
    - ``_static/mathjax`` keeps only :data:`MATHJAX_KEEP`.
    """
    done = {"originals": 0, "no_mathjax": 0, "pages": 0}
    for e in course(root):
        for path in (e.path, solutions_path(e.path)):
            target = out / "_sources" / path
            if target.parent.is_dir() and (root / path).exists():
                shutil.copy(root / path, target)
                done["originals"] += 1
    for page in out.rglob("*.html"):
        if "_static" in page.relative_to(out).parts:
            continue
        html = page.read_text(encoding="utf-8")
        new = _FONTAWESOME.sub("", html)
        body = new.split("<body", 1)[-1]
        if 'class="math' not in body and WIDGET_STATE not in body and "\\(" not in body:
            new, n = _MATHJAX.subn("", new)
            done["no_mathjax"] += n > 0
        if new != html:
            page.write_text(new, encoding="utf-8")
            done["pages"] += 1
    static = out / "_static"
    for name in ("fontawesome.js", "fontawesome.js.LICENSE.txt"):
        (static / "scripts" / name).unlink(missing_ok=True)
    # what no page loads: source maps, TrueType copies of the theme's woff2 icon fonts, and
    # the theme's translation catalogues (used while building, not in the browser)
    for path in [*static.rglob("*.map"), *static.glob("vendor/**/*.ttf")]:
        path.unlink()
    shutil.rmtree(static / "locales", ignore_errors=True)
    mathjax = out / "_static" / "mathjax"
    if mathjax.is_dir():
        kept = {mathjax / k for k in MATHJAX_KEEP}
        for path in sorted(mathjax.rglob("*"), key=lambda p: -len(p.parts)):
            if any(path == k or k in path.parents for k in kept):
                continue
            if any(path in k.parents for k in kept):
                continue  # a folder on the way to something kept
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    return done


def build(root: Path = ROOT, out: Path | None = None) -> Path:
    """Build the site into ``out`` (default ``build/html``); raises on any Sphinx warning."""
    src = root / "build" / "site-src"
    out = out or root / "build" / "html"
    prepare_source(src, root)
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [str(bin_dir / "jupyter-book"), "config", "sphinx", str(src)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with open(src / "conf.py", "a", encoding="utf-8") as conf:
        conf.write(CONF_OVERRIDES)
    if out.exists():
        shutil.rmtree(out)
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
         "-d", str(root / "build" / "site-doctrees"), str(src), str(out)],
        check=True,
    )
    finish(out, root)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (build/html)")
    args = parser.parse_args(argv)
    try:
        out = build(ROOT, args.out)
    except subprocess.CalledProcessError as err:
        print(f"site build failed: {' '.join(map(str, err.cmd[:4]))} ... exit {err.returncode}")
        return 1
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        print(f"site build failed: {err}")
        return 1
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"site built: {out / 'index.html'} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
