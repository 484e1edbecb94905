"""The course index, thumbnails and navigation (``make nav``, ``make figures``, ``make site``).

The first three tests read the repository: every notebook has a title, a one-line
description and an up-to-date thumbnail, appears in the README table and in the index next
to the notebooks, and starts and ends with the navigation cells that chain it to its
neighbours. The
rest check the tools themselves on small notebooks written into a temporary folder.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from PIL import Image

from tools import build_site, course_app, course_index, course_nav, make_figures

ROOT = Path(__file__).resolve().parents[1]


def test_every_notebook_has_a_title_and_a_description():
    entries = course_index.course(ROOT)
    names = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert [e.path.name for e in entries] == names
    assert all(e.title and e.description for e in entries)


def test_every_notebook_has_an_up_to_date_thumbnail():
    assert make_figures.stale(ROOT) == [], "run `make figures` and commit docs/figures"


def test_index_pages_and_navigation_chain_are_up_to_date():
    assert course_nav.problems(ROOT) == [], "run `make nav` and commit what it changed"


def test_site_loads_nothing_from_a_cdn():
    config = yaml.safe_load((ROOT / "docs" / "_config.yml").read_text())
    sphinx = config["sphinx"]["config"]
    assert config["execute"]["execute_notebooks"] == "off"
    assert "://" not in sphinx["mathjax_path"]
    assert "sphinx-mathjax-offline" in sphinx["extensions"]
    assert list(sphinx["nb_ipywidgets_js"]) == [
        "widgets/mathjax2-queue.js", "widgets/quiet-ajv.js", "widgets/embed.js"
    ]
    assert build_site.HTML_MANAGER["integrity"].startswith("sha512-")


# --- the tools on a small course in tmp_path ----------------------------------------------


def _png(width: int, height: int, colour: str) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _notebook(title: str, pngs: list[str], tag_second: bool = False, widget: bool = False):
    nb = nbformat.v4.new_notebook()
    nb.metadata["description"] = f"What {title} teaches."
    cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nSome text.")]
    for i, png in enumerate(pngs, start=1):
        cell = nbformat.v4.new_code_cell(f"plot({i})", execution_count=i)
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png})]
        if tag_second and i == 2:
            cell.metadata["tags"] = ["key-figure"]
        cells.append(cell)
    if widget:
        cell = nbformat.v4.new_code_cell("explorer", execution_count=len(pngs) + 1)
        view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
        cell.outputs = [
            nbformat.v4.new_output(
                "execute_result",
                data={"application/vnd.jupyter.widget-view+json": view, "text/plain": "E"},
                execution_count=len(pngs) + 1,
            )
        ]
        cells.append(cell)
    cells.append(nbformat.v4.new_markdown_cell("## Takeaways\n\nEM climbs."))
    nb.cells = cells
    return nb


@pytest.fixture
def course_root(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "docs").mkdir()
    red, blue = _png(640, 480, "red"), _png(800, 400, "blue")
    books = {
        "01_first": _notebook("1. First", [red]),
        "02_second": _notebook("2. Second", [red, blue], tag_second=True, widget=True),
        "03_third": _notebook("3. Third", [blue, red]),
    }
    for stem, nb in books.items():
        nbformat.write(nb, tmp_path / "notebooks" / f"{stem}.ipynb")
    page = f"# Course\n\n{course_index.INDEX_START}\nold table\n{course_index.INDEX_END}\n\nEnd.\n"
    (tmp_path / "README.md").write_text(page)
    (tmp_path / "docs" / "intro.md").write_text(page)
    return tmp_path


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def test_nav_is_idempotent_and_leaves_code_cells_alone(course_root):
    before = {p.name: _cells(p) for p in (course_root / "notebooks").glob("*.ipynb")}
    assert course_nav.problems(course_root)  # stale before
    changed = course_nav.update(course_root)
    assert len(changed) == 5  # three notebooks, README, notebooks/README.md
    assert course_nav.update(course_root) == []  # a second run changes nothing
    assert course_nav.problems(course_root) == []
    for name, old in before.items():
        new = _cells(course_root / "notebooks" / name)
        assert [c for c in new if c["cell_type"] == "code"] == [
            c for c in old if c["cell_type"] == "code"
        ]
        assert new[1:-1] == old, "only a first and a last cell are added"

    first, second, third = (
        _cells(course_root / "notebooks" / f"{stem}.ipynb")
        for stem in ("01_first", "02_second", "03_third")
    )
    assert "".join(second[0]["source"]) == (
        "[Course index](README.md) · Previous: [1. First](01_first.ipynb) · "
        "Next: [3. Third](03_third.ipynb)"
    )
    assert "Previous" not in "".join(first[0]["source"])
    assert "Next" not in "".join(third[0]["source"])
    assert "".join(first[-1]["source"]).startswith("**Next:** [2. Second](02_second.ipynb)")
    assert "(README.md)" in "".join(third[-1]["source"])
    index = (course_root / "notebooks" / "README.md").read_text()
    assert "**Start with [1. First](01_first.ipynb).**" in index
    assert "- **[3. Third](03_third.ipynb)** (" in index

    readme = (course_root / "README.md").read_text()
    assert "old table" not in readme and readme.endswith("\n\nEnd.\n")
    assert "| [2. Second](notebooks/02_second.ipynb) | What 2. Second teaches. " in readme
    assert "![2. Second](docs/figures/02_second.png)" in readme


def test_nav_follows_a_renamed_title_and_a_new_notebook(course_root):
    course_nav.update(course_root)
    nb = nbformat.read(course_root / "notebooks" / "03_third.ipynb", as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("3. Third", "3. Renamed")
    nbformat.write(nb, course_root / "notebooks" / "03_third.ipynb")
    nbformat.write(_notebook("4. Fourth", []), course_root / "notebooks" / "04_fourth.ipynb")
    stale = course_nav.problems(course_root)
    assert {s.split(":")[0] for s in stale} == {
        "notebooks/02_second.ipynb",
        "notebooks/03_third.ipynb",
        "notebooks/04_fourth.ipynb",
        "README.md",
        "notebooks/README.md",
    }
    course_nav.update(course_root)
    second = "".join(_cells(course_root / "notebooks" / "02_second.ipynb")[0]["source"])
    assert "Next: [3. Renamed](03_third.ipynb)" in second


def test_missing_description_and_markers_are_named(course_root):
    nb = nbformat.read(course_root / "notebooks" / "01_first.ipynb", as_version=4)
    del nb.metadata["description"]
    nbformat.write(nb, course_root / "notebooks" / "01_first.ipynb")
    # without a description, the first paragraph under the title stands in
    assert course_index.course(course_root)[0].description == "Some text."
    nb.cells[0].source = "# 1. First"
    nbformat.write(nb, course_root / "notebooks" / "01_first.ipynb")
    with pytest.raises(ValueError, match="01_first.ipynb: no description"):
        course_index.course(course_root)
    with pytest.raises(ValueError, match="README.md: no course index markers"):
        course_index.replace_index("# no markers", "table", "README.md")
    bad = nbformat.v4.new_notebook()
    bad.cells = [nbformat.v4.new_markdown_cell("## not a title")]
    with pytest.raises(ValueError, match="x.ipynb: no level-1 heading"):
        course_index.title_of(bad, "x.ipynb")


def test_thumbnails_from_the_key_figure(course_root):
    stale = make_figures.stale(course_root)
    assert len(stale) == 3 and all("no thumbnail" in s for s in stale)
    written = make_figures.write_all(course_root)
    assert len(written) == 3
    assert make_figures.write_all(course_root) == []  # unchanged bytes are not rewritten
    assert make_figures.stale(course_root) == []
    figures = course_root / "docs" / "figures"
    with Image.open(figures / "01_first.png") as img:  # the only figure: red 640x480
        assert img.size == (make_figures.WIDTH, 240) and img.getpixel((5, 5))[:3] == (255, 0, 0)
    with Image.open(figures / "02_second.png") as img:  # the tagged cell: blue 800x400
        assert img.size == (make_figures.WIDTH, 160) and img.getpixel((5, 5))[:3] == (0, 0, 255)
    with Image.open(figures / "03_third.png") as img:  # untagged: the first, blue
        assert img.getpixel((5, 5))[:3] == (0, 0, 255)

    # a notebook whose figure changed, and one added without a thumbnail, are reported
    nb = nbformat.read(course_root / "notebooks" / "01_first.ipynb", as_version=4)
    nb.cells[1].outputs[0].data["image/png"] = _png(640, 480, "green")
    nbformat.write(nb, course_root / "notebooks" / "01_first.ipynb")
    nbformat.write(_notebook("4. Fourth", [_png(10, 10, "red")]),
                   course_root / "notebooks" / "04_fourth.ipynb")
    stale = make_figures.stale(course_root)
    assert [s.split(":")[0] for s in stale] == ["01_first.ipynb", "04_fourth.ipynb"]
    assert "not made from the key figure" in stale[0] and "no thumbnail" in stale[1]


def test_key_figure_choices_and_errors():
    red, blue = _png(4, 4, "red"), _png(4, 4, "blue")
    nb = _notebook("x", [red, blue])
    assert make_figures.key_figure(nb) == base64.b64decode(red)
    assert make_figures.key_figure(nb, contains="plot(2)") == base64.b64decode(blue)
    with pytest.raises(ValueError, match="x.ipynb: no code cell with a figure contains 'gone'"):
        make_figures.key_figure(nb, "x.ipynb", contains="gone")
    nb.cells[2].source = "# key figure\nplot(2)"
    assert make_figures.key_figure(nb, contains="plot(1)") == base64.b64decode(blue)  # mark wins
    nb.cells[1].metadata["tags"] = ["key-figure"]
    with pytest.raises(ValueError, match="2 cells are marked"):
        make_figures.key_figure(nb)
    with pytest.raises(ValueError, match="y.ipynb: no stored PNG output"):
        make_figures.key_figure(_notebook("y", []), "y.ipynb")
    with pytest.raises(ValueError, match="width must be a positive"):
        make_figures.thumbnail(base64.b64decode(red), width=0)


def test_site_notebook_is_what_a_reader_should_see(course_root):
    nb = nbformat.read(course_root / "notebooks" / "02_second.ipynb", as_version=4)
    nb.cells[1].source = "# NBVAL_CHECK_OUTPUT\nplot(1)"
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(
        "As Meng & Rubin (1991) and (Louis 1982) show, `Wu 1983` and $Wu 1983$ are not."))
    nb.metadata["widgets"] = {build_site.WIDGET_STATE: {"state": {
        "s": {"model_name": "FloatSliderModel", "state": {"disabled": False, "value": 1}},
        "o": {"model_name": "OutputModel", "state": {"outputs": []}},
    }}}
    course_nav.update(course_root)
    nav = nbformat.read(course_root / "notebooks" / "02_second.ipynb", as_version=4)
    nb.cells = [nav.cells[0], *nb.cells, nav.cells[-1]]
    page, keys = build_site.site_notebook(nb, {})
    sources = [c.source for c in page.cells]
    assert keys == {"meng1991", "louis1982"}
    assert "NBVAL" not in "".join(sources) and "plot(1)" in sources
    cited = next(s for s in sources if "Meng" in s)
    assert '<a class="citation-link" href="../references.html#cite-meng1991">Meng & Rubin (1991)' \
        in cited and "(<a class" in cited and "Louis 1982</a>)" in cited
    assert "`Wu 1983` and $Wu 1983$" in cited  # code and maths are left alone
    widget = next(i for i, c in enumerate(page.cells) if c.source == "explorer")
    assert "This page is static" in page.cells[widget - 1].source  # the note is above it
    assert "hide-input" in page.cells[widget].metadata["tags"]
    state = page.metadata["widgets"][build_site.WIDGET_STATE]["state"]
    assert state["s"]["state"]["disabled"] is True and "disabled" not in state["o"]["state"]
    assert nb.metadata["widgets"][build_site.WIDGET_STATE]["state"]["s"]["state"]["disabled"] \
        is False, "the notebook itself is not changed"
    head, foot = page.cells[0].source, page.cells[-1].source
    assert "[Course index](../index.md)" in head and "README.md" not in head + foot
    assert "Run it yourself" in head and "make lab" in head
    assert not any("://" in s for s in sources), "no link anywhere while the repository is unset"
    nbformat.validate(page)


def test_every_link_to_the_repository_follows_the_one_setting():
    unset = build_site.site_config({"repository": {"url": ""}})
    assert unset["repository"]["url"] == "" and not unset["html"]["use_repository_button"]
    assert unset["launch_buttons"]["binderhub_url"] == ""
    assert unset["sphinx"]["config"]["html_theme_options"]["repository_url"] == ""
    assert build_site.launch_links("", "main", "notebooks/x.ipynb") == {}
    assert "://" not in build_site.widget_note({}) + build_site.run_it_yourself({})

    url = "https://github.com/someone/em-course"
    config = build_site.site_config({"repository": {"url": url + ".git/", "branch": "dev"}})
    assert config["repository"] == {"url": url, "branch": "dev", "path_to_book": ""}
    assert config["html"]["use_repository_button"]
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    links = build_site.launch_links(url, "dev", "notebooks/01_a.ipynb")
    assert links["binder"] == (
        "https://mybinder.org/v2/gh/someone/em-course/dev?urlpath=lab/tree/notebooks/01_a.ipynb"
    )
    assert links["notebook"] == url + "/blob/dev/notebooks/01_a.ipynb"
    assert links["binder"] in build_site.widget_note(links)
    assert "git+" + url in build_site.run_it_yourself(links)
    gitlab = build_site.launch_links("https://gitlab.com/a/b", "main", "n.ipynb")
    assert "binder" not in gitlab and gitlab["repository"] == "https://gitlab.com/a/b"
    with pytest.raises(ValueError, match="repository.url must be an https:// address"):
        build_site.repository({"repository": {"url": "github.com/a/b"}})
    # the repository's own configuration: the setting exists (empty or an address)
    config = yaml.safe_load((ROOT / "docs" / "_config.yml").read_text())
    assert "url" in config["repository"]
    build_site.repository(config)


def test_landing_page_starts_with_notebook_1_and_has_a_card_each(course_root):
    entries = course_index.course(course_root)
    intro = (ROOT / "docs" / "intro.md").read_text()
    page = build_site.landing_page(intro, entries, {}, course_root)
    assert "{button-ref} notebooks/01_first" in page and "Start with notebook 1" in page
    assert page.count(":::{grid-item-card}") == 3
    assert "<!--" not in page.split("# The EM algorithm, executed", 1)[1]
    assert "hours for all 3 notebooks" in page
    with pytest.raises(ValueError, match="course-start"):
        build_site.landing_page("no markers", entries, {}, course_root)


def test_the_site_reads_every_formula_as_maths():
    """The site's MyST parser must see the notebooks' maths as maths (see
    build_site.myst_math_problems; the browser test checks the built pages too)."""
    assert build_site.myst_math_problems("a $x$ b\n\n$$y = 1$$\n\nc") == []
    assert build_site.myst_math_problems("a $x\n+ y$ b")  # a "+" line: a list item
    assert build_site.myst_math_problems("text\n$$x = 1$$\nmore")  # $$ inside a paragraph
    pages = [*course_index.notebook_paths(ROOT),
             *sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb")),
             *sorted((ROOT / "notebooks").glob("*.md"))]
    problems = []
    for path in pages:
        if path.suffix == ".md":
            cells = [(0, path.read_text())]
        else:
            nb = nbformat.read(path, as_version=4)
            cells = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]
        for i, source in cells:
            problems += [f"{path.name} cell {i}: {t[:100]!r}"
                         for t in build_site.myst_math_problems(source)]
    assert not problems, (
        "maths the site shows as raw TeX (put $$...$$ in its own paragraph, never start a "
        "line inside $...$ with +, - or *):\n" + "\n".join(problems)
    )


def test_every_citation_links_to_the_bibliography():
    bib = (ROOT / "docs" / "references.bib").read_text()
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, flags=re.M))
    assert set(build_site.CITATIONS) <= keys, "CITATIONS names keys that references.bib lacks"
    # an author-year citation that no pattern of CITATIONS links: "Name (1999)", "Name & Other
    # 1999", "Name et al. 1999"; a publisher and year after a linked citation is not one
    year = re.compile(
        r"(?:[A-Z][\w'’-]+(?:,\s+[A-Z][\w'’-]+)*(?:,?\s+(?:&|and)\s+[A-Z][\w'’-]+|\s+et al\.)?)"
        r",?\s+\(?(?:1[89]|20)\d\d[a-z]?\)?"
    )
    publishers = ("Wiley", "CRC", "Springer", "Kluwer", "Chapman", "Hall", "Press")
    words = ("In ", "By ", "From ", "Since ", "Until ", "Before ", "After ", "The ", "A ")
    unlinked = []
    for path in course_index.notebook_paths(ROOT):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "markdown" or cell.metadata.get("course_nav"):
                continue
            text, _ = build_site.link_citations(cell.source, "R")
            text = re.sub(r'<a class="citation-link".*?</a>', " ", text, flags=re.S)
            text = build_site._PROTECTED.sub(" ", text)
            unlinked += [f"{path.name} cell {i}: {m.group(0)!r}" for m in year.finditer(text)
                         if not m.group(0).startswith(publishers + words)]
    assert not unlinked, (
        "citations without a bibliography entry: add the work to docs/references.bib and "
        "the way it is cited to CITATIONS in tools/build_site.py:\n" + "\n".join(unlinked)
    )


# --- the app mode (tools/course_app.py) -----------------------------------------------------


def test_cell_names_follow_python_scopes():
    source = (
        "%matplotlib inline\n"
        "import numpy as np\n"
        "for t in range(3):\n    y = t + x\n"
        "z = [k * w for k in y]\n"
        "@dec\ndef f(a, b=B):\n    c = a + g\n    return c + z\n"
        "x = 1\nq += 1\n"
    )
    defined, used = course_app.cell_names(source)
    assert {"np", "t", "y", "z", "f", "x", "q"} <= defined
    assert "k" not in defined and "c" not in defined  # a comprehension's, a function's own
    # read before bound here (x), free in a function or comprehension (g, w), decorators and
    # defaults (dec, B), augmented (q); not locals (a, c, k) nor builtins (range)
    assert used == {"x", "g", "w", "dec", "B", "q"}


def _app_course(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["description"] = "What the app teaches."
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 1. First\n\nIntro."),
        nbformat.v4.new_code_cell(
            "%matplotlib inline\nimport numpy as np\nimport em_helpers as emh"),
        nbformat.v4.new_code_cell("DATA = np.arange(3)\nUNUSED = 1"),
        nbformat.v4.new_code_cell(
            "# NBVAL_CHECK_OUTPUT\nheavy = expensive_check(DATA)\nprint(heavy)"),
        nbformat.v4.new_code_cell("def model(t):\n    return DATA * t"),
        nbformat.v4.new_markdown_cell("Some other section's closing words."),
        nbformat.v4.new_markdown_cell("## Explore\n\nMove $t$ and watch."),
        nbformat.v4.new_code_cell(
            "# NBVAL_IGNORE_OUTPUT\nimport ipywidgets as widgets\n"
            "def update(t):\n    return model(t)\n"
            "explorer = emh.explore(update, {'t': widgets.FloatSlider()})\nexplorer"
        ),
    ]
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "01_first.ipynb")
    second = copy.deepcopy(nb)
    second.cells[0].source = "# 2. Second\n\nIntro."
    nbformat.write(second, tmp_path / "notebooks" / "02_second.ipynb")
    return nb


def test_an_app_is_the_explorer_its_text_and_the_cells_it_needs(tmp_path):
    nb = _app_course(tmp_path)
    assert course_app.explorer_cells(nb) == [7]
    assert course_app.needed_cells(nb, [7]) == [1, 2, 4]  # not the check that prints
    entries = course_index.course(tmp_path)
    app = course_app.app_notebook(nb, entries, 0)
    sources = [c.source for c in app.cells]
    assert sources[0] == "[← All explorers](../tree) · Next: [2. Second](02_second.ipynb)"
    assert sources[1].startswith("# 1. First")
    hidden = [c for c in app.cells if course_app.APP_TAG in c.metadata.get("tags", [])]
    assert [c.source.splitlines()[0] for c in hidden] == [
        "%matplotlib inline", "DATA = np.arange(3)", "def model(t):"]
    assert sources[-2] == "Move $t$ and watch."  # the Explore text, without its heading
    assert sources[-1].startswith("import ipywidgets") and "NBVAL" not in "".join(sources)
    nbformat.validate(app)


def test_app_build_and_template_load_nothing_from_another_host(tmp_path):
    _app_course(tmp_path)
    out = course_app.build(tmp_path / "app", tmp_path)
    assert sorted(p.name for p in (out / "apps").iterdir()) == ["01_first.ipynb",
                                                                 "02_second.ipynb"]
    folder = out / "share" / "jupyter" / "voila" / "templates" / course_app.TEMPLATE
    tree = (folder / "tree-lab.html").read_text()
    assert tree.count('class="card"') == 2 and "://" not in tree
    assert "voila/render/02_second.ipynb" in tree
    index = (folder / "index.html.j2").read_text()
    assert all(f"replace('{link}', '')" in index for link in course_app.FA_LINKS.values())
    assert "://" not in (folder / "static" / "app.css").read_text()
    env = course_app.voila_env(out, {"JUPYTER_PATH": "/elsewhere"})
    assert env["JUPYTER_PATH"].split(":") == [str(out / "share" / "jupyter"), "/elsewhere"]
    argv = course_app.voila_argv(out, ["--port=1"], voila="voila")
    assert argv[:3] == ["voila", str(out / "apps"), "--template=course"]
    assert "--preheat_kernel=True" in argv and argv[-1] == "--port=1"
