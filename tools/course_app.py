"""``make app``: the course's explorers as small web apps (Voila), with an index page.

A course notebook is a long read whose explorer comes at the end; served whole by Voila it
is the notebook with its code hidden, 6,000 px of derivations before the sliders. The app
mode serves, for each notebook, an *app notebook* made from it (:func:`app_notebook`):

- a navigation line (all explorers, previous, next), the notebook's title and a pointer to
  the full notebook;
- for each explorer: the notebook's own text just above it (its "Explore" paragraph), then
  the explorer's cell;
- before them, hidden by the app template, the code cells the explorers need, found by
  following names back through the notebook (:func:`needed_cells`: a cell joins when it
  defines a name that an explorer, or a cell already taken, uses). Nothing is copied into
  the repository: the apps are built from the notebooks into ``build/app`` on every run.

The Voila template ``course`` (written next to the apps, :func:`write_template`) is Voila's
``lab`` template without the Font Awesome stylesheets it loads from a CDN, with the hidden
cells left out of the page and a layout that holds down to a 390 px phone (the explorer's
control grid wraps to one column). Its index page lists the explorers as cards. Voila runs
with *preheated* kernels: each app's cells are executed before anyone asks, so a page shows
its first figure at once.

Usage::

    python -m tools.course_app                 # build build/app and serve it (make app)
    python -m tools.course_app --build-only    # only build
    python -m tools.course_app --open notebooks/03_gaussian_mixture.ipynb -- --port=8867
"""

from __future__ import annotations

import argparse
import ast
import builtins
import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat

from tools.course_index import ROOT, Entry, course

__all__ = [
    "APP_TAG",
    "TEMPLATE",
    "app_notebook",
    "build",
    "cell_names",
    "explorer_cells",
    "main",
    "needed_cells",
    "voila_argv",
    "voila_env",
    "write_template",
]

APP_TAG = "app-setup"  # cells the explorers need, run but not shown
TEMPLATE = "course"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_NBVAL = re.compile(r"^[ \t]*#[ \t]*NBVAL_[A-Z_]+[ \t]*\n?", re.MULTILINE)
_BUILTINS = set(dir(builtins)) | {"get_ipython"}  # (IPython provides it in a kernel)


# --- which cells an explorer needs ---------------------------------------------------------


def _python(source: str) -> str:
    """The cell's source as plain Python (IPython magics become harmless calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _stores(node: ast.AST) -> set[str]:
    """Names ``node`` binds in its own scope (a comprehension's variables are its own)."""
    found, todo = set(), [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            found.add(n.id)
        todo.extend(c for c in ast.iter_child_nodes(n) if not isinstance(c, _SCOPES))
    return found


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
           ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _loads(node: ast.AST) -> list[str]:
    """Names read by ``node`` in its own scope (not inside functions, lambdas, classes or
    comprehensions, whose reads :func:`cell_names` takes from the symbol table)."""
    found, todo = [], [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            found.append(n.id)
        for child in ast.iter_child_nodes(n):
            if isinstance(child, _SCOPES):
                # decorators and default values are read where the function is defined
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    todo.extend(child.decorator_list)
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    todo.extend(d for d in child.args.defaults + child.args.kw_defaults if d)
                if isinstance(child, ast.ClassDef):
                    todo.extend(child.bases)
                continue
            todo.append(child)
    return found


def cell_names(source: str) -> tuple[set[str], set[str]]:
    """``(defined, used)``: the global names a code cell binds, and those it reads that it
    has not bound itself before (so needs from an earlier cell).

    The cell's statements are followed in order: a name read before the cell binds it (or
    never bound by it) is *used*. Functions, lambdas, classes and comprehensions read the
    globals the symbol table says they read; those count as used unless the cell binds
    them (a function reads globals when it runs, after the cell has bound them).
    """
    import symtable

    code = _python(source)
    tree = ast.parse(code)
    defined: set[str] = set()
    used: set[str] = set()

    def read(node: ast.AST) -> None:
        used.update(n for n in _loads(node) if n not in defined)

    def run(stmts: list[ast.stmt]) -> None:
        for st in stmts:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                # read where it is defined: decorators, default values, base classes
                parts = list(st.decorator_list)
                if isinstance(st, ast.ClassDef):
                    parts += st.bases
                else:
                    parts += [d for d in st.args.defaults + st.args.kw_defaults if d]
                for part in parts:
                    read(part)
                defined.add(st.name)
            elif isinstance(st, (ast.Import, ast.ImportFrom)):
                for alias in st.names:
                    defined.add((alias.asname or alias.name).split(".")[0])
            elif isinstance(st, ast.AugAssign):
                read(st.value)
                if isinstance(st.target, ast.Name) and st.target.id not in defined:
                    used.add(st.target.id)
                read(st.target)
                defined.update(_stores(st.target))
            elif isinstance(st, (ast.For, ast.AsyncFor)):
                read(st.iter)
                defined.update(_stores(st.target))
                run(st.body + st.orelse)
            elif isinstance(st, (ast.With, ast.AsyncWith)):
                for item in st.items:
                    read(item.context_expr)
                    if item.optional_vars is not None:
                        defined.update(_stores(item.optional_vars))
                run(st.body)
            elif isinstance(st, (ast.If, ast.While)):
                read(st.test)
                run(st.body + st.orelse)
            elif isinstance(st, ast.Try):
                run(st.body)
                for h in st.handlers:
                    if h.type is not None:
                        read(h.type)
                    if h.name:
                        defined.add(h.name)
                    run(h.body)
                run(st.orelse + st.finalbody)
            else:  # assignments and expressions: the value is read before the target binds
                read(st)
                defined.update(_stores(st))

    run(tree.body)

    def nested_reads(table: symtable.SymbolTable) -> None:
        for child in table.get_children():
            for sym in child.get_symbols():
                if sym.is_referenced() and sym.is_global() and sym.get_name() not in defined:
                    used.add(sym.get_name())
            nested_reads(child)

    nested_reads(symtable.symtable(code, "<cell>", "exec"))
    return defined, used - _BUILTINS


def explorer_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the code cells that show an explorer (a stored widget view, or a call of
    ``emh.explore`` / ``Explorer`` for a notebook not executed yet)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        shown = any(WIDGET_VIEW in out.get("data", {}) for out in cell.get("outputs", []))
        if shown or re.search(r"\bexplore\(|\bExplorer\(", cell.source):
            found.append(i)
    return found


def needed_cells(nb: nbformat.NotebookNode, targets: list[int]) -> list[int]:
    """The code cells before the last of ``targets`` that the targets need, in order.

    Walking back from the last target, a cell is taken when it binds a name still needed
    (a target always is); a name it binds is then no longer needed from earlier cells, and
    the names it reads are (``x = f(x)`` and ``x += 1`` read ``x``). Cells that only import
    before the first target are taken too (cheap, and they set the kernel up, e.g.
    ``%matplotlib inline``). The targets themselves are not in the result.
    """
    need: set[str] = set()
    taken: list[int] = []
    for i in range(max(targets), -1, -1):
        cell = nb.cells[i]
        if cell.cell_type != "code":
            continue
        defined, used = cell_names(cell.source)
        if i in targets or defined & need or (i < min(targets) and _imports_only(cell.source)):
            if i not in targets:
                taken.append(i)
            need = (need - defined) | used
    return sorted(taken)


def _imports_only(source: str) -> bool:
    tree = ast.parse(_python(source))
    return bool(tree.body) and all(
        isinstance(st, (ast.Import, ast.ImportFrom))
        or (isinstance(st, ast.Expr) and isinstance(st.value, ast.Call)
            and "run_line_magic" in ast.unparse(st.value.func))
        for st in tree.body
    )


# --- the app notebook ------------------------------------------------------------------------


def _explanation(nb: nbformat.NotebookNode, i: int) -> list[str]:
    """The markdown right above code cell ``i`` (its "Explore" text), heading removed: the
    markdown cells up to the nearest heading (or the one cell above, without a heading)."""
    texts = []
    j = i - 1
    while j >= 0 and nb.cells[j].cell_type == "markdown":
        texts.insert(0, nb.cells[j].source)
        if re.search(r"^#{1,6} ", nb.cells[j].source, flags=re.M):
            break
        j -= 1
    if not any(re.search(r"^#{1,6} ", t, flags=re.M) for t in texts):
        texts = texts[-1:]
    out = []
    for text in texts:
        # what follows the last heading (a cell may end a section, then start "Explore")
        text = re.split(r"^#{1,6} .*$", text, flags=re.M)[-1].strip()
        if text:
            out.append(text)
    return out


def _nav(entries: list[Entry], k: int) -> str:
    parts = ["[← All explorers](../tree)"]
    if k > 0:
        parts.append(f"Previous: [{entries[k - 1].title}]({entries[k - 1].path.name})")
    if k + 1 < len(entries):
        parts.append(f"Next: [{entries[k + 1].title}]({entries[k + 1].path.name})")
    return " · ".join(parts)


def app_notebook(nb: nbformat.NotebookNode, entries: list[Entry], k: int,
                 links: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The app made from course notebook ``entries[k]`` (its notebook ``nb``)."""
    entry = entries[k]
    targets = explorer_cells(nb)
    if not targets:
        raise ValueError(f"{entry.path.name}: no explorer (emh.explore) to make an app of")
    app = nbformat.v4.new_notebook()
    app.metadata["kernelspec"] = nb.metadata.get("kernelspec", {
        "name": "python3", "display_name": "Python 3", "language": "python"})
    app.metadata["language_info"] = nb.metadata.get("language_info", {"name": "python"})
    app.metadata["course_app"] = {"notebook": entry.path.as_posix(), "title": entry.title}
    where = "the notebook (`make lab`)"
    if links and "notebook" in links:
        where = f"[the notebook]({links['notebook']})"
    cells = [
        nbformat.v4.new_markdown_cell(_nav(entries, k)),
        nbformat.v4.new_markdown_cell(
            f"# {entry.title}\n\n*{entry.description}* The derivations and the checks "
            f"behind this explorer are in {where}."
        ),
    ]
    # in the notebook's order (a cell may need what an earlier explorer's cell defines);
    # the template leaves the hidden ones out of the page
    for i in sorted([*needed_cells(nb, targets), *targets]):
        source = _NBVAL.sub("", nb.cells[i].source).strip()
        if i in targets:
            cells += [nbformat.v4.new_markdown_cell(t) for t in _explanation(nb, i)]
            cells.append(nbformat.v4.new_code_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            cell.metadata["tags"] = [APP_TAG]
            cells.append(cell)
    for n, cell in enumerate(cells):
        cell.id = f"app-{n}"
    app.cells = cells
    return app


# --- the Voila template --------------------------------------------------------------------

INDEX_J2 = r"""{%- extends 'voila/templates/lab/index.html.j2' -%}
{#- The course's app template (tools/course_app.py): Voila's lab template without the Font
    Awesome stylesheets it loads from a CDN (nothing here uses an icon), with the cells the
    explorers only need left out of the page, and a layout that holds down to 390 px. -#}

{%- block notebook_css -%}
{{ super() | replace(FA_ALL, '') | replace(FA_SHIMS, '') }}
<link rel="stylesheet" type="text/css"
      href="{{ resources.base_url }}voila/templates/course/static/app.css" />
{%- endblock notebook_css -%}

{%- block any_cell scoped -%}
{%- if 'app-setup' in cell.metadata.get('tags', []) -%}
<div cell-index="{{ cellloop.index }}" class="course-app-hidden" hidden>
  <script>voila_process({{ cellloop.index }}, {{ cell_count }})</script>
</div>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock any_cell -%}
"""

#: The two stylesheet links of Voila's lab template that load Font Awesome from a CDN
#: (removed by the course template; the browser test fails on any request to another host).
FA_LINKS = {
    "FA_ALL": '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/@fortawesome/'
    'fontawesome-free@^5/css/all.min.css" type="text/css" />',
    "FA_SHIMS": '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/@fortawesome/'
    'fontawesome-free@^5/css/v4-shims.min.css" type="text/css" />',
}

APP_CSS = """\
/* The course's explorer apps (tools/course_app.py). */
body { margin: 0; }
#rendered_cells { max-width: 1040px; margin: 0 auto; padding: 0.5rem 1rem 2rem; }
#rendered_cells > div { padding: 0 !important; box-shadow: none !important; }
.jp-Cell { padding: 0.2rem 0 !important; }
.jp-RenderedMarkdown { font-size: 15px; line-height: 1.5; padding-right: 0 !important; }
.jp-RenderedMarkdown h1 { font-size: 1.6rem; margin: 0.4rem 0; }
/* The explorer's controls: as many columns as fit, one on a phone. Each control takes its
   whole grid cell: the description above a full-width track on a narrow screen. */
.widget-gridbox {
  grid-template-columns: repeat(auto-fill, minmax(min(19rem, 100%), 1fr)) !important;
  gap: 0.2rem 1rem;
}
.widget-gridbox > .widget-inline-hbox { width: auto !important; min-width: 0; }
.widget-gridbox .widget-hslider .slider-container { min-width: 4rem; }
.widget-gridbox .widget-readout { min-width: 3.5rem; overflow: hidden; text-overflow: ellipsis; }
.widget-output img, .jp-OutputArea-output img {
  max-width: 100% !important; height: auto !important;
}
.jp-OutputArea-output { overflow-x: auto; }
@media (max-width: 600px) {
  #rendered_cells { padding: 0.25rem 0.6rem 1.5rem; }
  .widget-gridbox > .widget-inline-hbox { flex-wrap: wrap; height: auto !important; }
  .widget-gridbox .widget-label { width: 100% !important; max-width: none !important;
                                  text-align: left !important; height: auto !important;
                                  line-height: 1.3 !important; margin: 0.3rem 0 0 !important; }
  .widget-gridbox .widget-hslider .slider-container { flex: 1 1 auto; }
  .widget-gridbox .widget-dropdown > select { flex: 1 1 auto; }
  .jp-RenderedMarkdown h1 { font-size: 1.3rem; }
}
"""

TREE_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>The EM algorithm, executed: explorers</title>
<link rel="icon" href="data:;base64,=">
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d1d1f; background: #f6f7f9; }}
main {{ max-width: 1080px; margin: 0 auto; padding: 1.2rem 1rem 3rem; }}
h1 {{ font-size: 1.8rem; margin: 0.3rem 0 0.4rem; }}
p.lead {{ font-size: 1.05rem; line-height: 1.5; max-width: 48rem; }}
.cards {{ display: grid; gap: 1rem;
          grid-template-columns: repeat(auto-fill, minmax(min(19rem, 100%), 1fr)); }}
a.card {{ display: flex; flex-direction: column; background: #fff; border: 1px solid #d8dbe0;
          border-radius: 8px; text-decoration: none; color: inherit; overflow: hidden; }}
a.card:hover, a.card:focus {{ border-color: #1a73e8; box-shadow: 0 2px 8px rgba(0,0,0,.12); }}
a.card img {{ width: 100%; height: 170px; object-fit: contain; background: #fff;
              border-bottom: 1px solid #eceef1; padding: 0.4rem; box-sizing: border-box; }}
a.card .body {{ padding: 0.7rem 0.9rem 0.9rem; }}
a.card h2 {{ font-size: 1.05rem; margin: 0 0 0.35rem; color: #174ea6; }}
a.card p {{ margin: 0; font-size: 0.92rem; line-height: 1.4; }}
</style>
</head>
<body>
<main>
<h1>The EM algorithm, executed: explorers</h1>
<p class="lead">Each card opens one notebook's explorer as a small app: move the sliders
and EM re-runs in a live Python kernel. The derivations and checks behind each one are in
its notebook ({notebook_hint}).</p>
<div class="cards">
{cards}
</div>
</main>
</body>
</html>
"""

CARD = """<a class="card" href="{{{{ base_url }}}}voila/render/{name}">
{image}<div class="body"><h2>{title}</h2><p>{description}</p></div>
</a>"""


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_template(share: Path, entries: list[Entry], root: Path = ROOT) -> Path:
    """The Voila template ``course`` under ``share`` (a Jupyter data directory)."""
    folder = share / "voila" / "templates" / TEMPLATE
    static = folder / "static"
    static.mkdir(parents=True, exist_ok=True)
    (folder / "conf.json").write_text(json.dumps({"base_template": "lab"}) + "\n")
    index = INDEX_J2
    for name, link in FA_LINKS.items():
        index = index.replace(name, "'" + link + "'")
    (folder / "index.html.j2").write_text(index)
    (static / "app.css").write_text(APP_CSS)
    cards = []
    for e in entries:
        image = ""
        if (root / e.thumbnail).is_file():
            shutil.copy(root / e.thumbnail, static / e.thumbnail.name)
            image = (f'<img src="{{{{ base_url }}}}voila/templates/{TEMPLATE}/static/'
                     f'{e.thumbnail.name}" alt="key figure of notebook {e.number}">\n')
        cards.append(CARD.format(name=e.path.name, image=image, title=_html(e.title),
                                 description=_html(e.description)))
    tree = TREE_HTML.format(cards="\n".join(cards), notebook_hint="<code>make lab</code>")
    for name in ("tree-lab.html", "tree.html"):  # Voila's index page, lab and classic
        (folder / name).write_text(tree)
    return folder


# --- building and serving ------------------------------------------------------------------


def build(out: Path | None = None, root: Path = ROOT) -> Path:
    """Write the apps (``out/apps``) and the template (``out/share``); returns ``out``."""
    out = out or root / "build" / "app"
    entries = course(root)
    apps = out / "apps"
    if apps.exists():
        shutil.rmtree(apps)
    apps.mkdir(parents=True)
    for k, e in enumerate(entries):
        nb = nbformat.read(root / e.path, as_version=4)
        app = app_notebook(nb, entries, k)
        nbformat.validate(app)
        nbformat.write(app, apps / e.path.name)
    if (root / "data").is_dir():  # the notebooks read ../data
        target = out / "data"
        if target.is_symlink() or target.exists():
            target.unlink() if target.is_symlink() else shutil.rmtree(target)
        shutil.copytree(root / "data", target)
    share = out / "share"
    if share.exists():
        shutil.rmtree(share)
    write_template(share / "jupyter", entries, root)
    return out


def voila_env(out: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment Voila runs in: the template found through ``JUPYTER_PATH``."""
    env = dict(os.environ if env is None else env)
    paths = [str(out / "share" / "jupyter"), env.get("JUPYTER_PATH", "")]
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in paths if p)
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # (make exports Agg)
    return env


def voila_argv(out: Path, extra: list[str] | None = None, voila: str | None = None) -> list[str]:
    """The Voila command line that serves the apps in ``out`` (built by :func:`build`)."""
    voila = voila or str(Path(sys.executable).parent / "voila")
    return [
        voila, str(out / "apps"), f"--template={TEMPLATE}",
        # every app's cells run before anyone asks: the page shows its figure at once
        "--preheat_kernel=True", "--pool_size=1",
        "--VoilaConfiguration.show_tracebacks=False",
        *(extra or []),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-only", action="store_true", help="build build/app, do not serve")
    parser.add_argument("--open", metavar="NOTEBOOK", default="",
                        help="say which app to open first (a notebooks/NN_name.ipynb path)")
    parser.add_argument("voila_args", nargs="*", help="passed to voila (after --)")
    args = parser.parse_args(argv)
    try:
        out = build()
    except (ValueError, SyntaxError) as err:
        print(f"app build failed: {err}")
        return 1
    print(f"apps built in {out / 'apps'}")
    if args.build_only:
        return 0
    if args.open:
        name = Path(args.open).name
        if not (out / "apps" / name).is_file():
            names = sorted(p.name for p in (out / "apps").iterdir())
            print(f"no app for {args.open}: one of {names}")
            return 1
        print(f"the explorer of {name}: <server>/voila/render/{name} (the index lists them all)")
    argv = voila_argv(out, args.voila_args)
    os.execvpe(argv[0], argv, voila_env(out))  # noqa: S606 (replaces this process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
