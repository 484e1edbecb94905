"""``make figures``: each notebook's key figure, from its stored outputs, as a thumbnail.

The key figure is the first PNG output of the code cell tagged ``key-figure`` (cell
metadata tags) or whose source has a line ``# key figure``; a notebook without one gets
the first PNG output of the code cell whose source contains the text given for it in
``tools.course_index.KEY_FIGURES``, else its first PNG output.
Nothing is re-executed: the image is the one stored in the committed notebook. A wide
figure of panels side by side is cut to its first panel (:func:`first_panel`: at thumbnail
size three panels are unreadable); the image is scaled to :data:`WIDTH` pixels wide
(Pillow, Lanczos) and saved as
``docs/figures/NN_name.png`` with the SHA-256 of the source image in a PNG text chunk, so
a test can tell when a thumbnail no longer matches its notebook.

Usage::

    python -m tools.make_figures            # write every thumbnail
    python -m tools.make_figures --check    # list missing or stale ones; exit 1 if any
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
from pathlib import Path

import nbformat
import numpy as np
from PIL import Image, PngImagePlugin

from tools.course_index import FIGURES, KEY_FIGURES, ROOT, notebook_paths

__all__ = [
    "SOURCE_KEY",
    "TAG",
    "WIDTH",
    "first_panel",
    "key_figure",
    "main",
    "stale",
    "thumbnail",
    "write_all",
]

WIDTH = 320  # pixels; the README table shows thumbnails at their own size
TAG = "key-figure"
SOURCE_KEY = "em-course-source-sha256"


def _is_key(cell: nbformat.NotebookNode) -> bool:
    tags = cell.metadata.get("tags", [])
    return TAG in tags or any(
        line.strip().lower() == "# key figure" for line in cell.source.splitlines()
    )


def _pngs(cell: nbformat.NotebookNode) -> list[bytes]:
    return [
        base64.b64decode(out.data["image/png"])
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]


def key_figure(nb: nbformat.NotebookNode, name: str = "notebook", contains: str = "") -> bytes:
    """The PNG bytes of ``nb``'s key figure (see the module docstring); ``ValueError`` if none.

    ``contains``: when no cell is marked, the figure of the first code cell with a PNG output
    whose source contains this text (``ValueError`` if none does).
    """
    code = [c for c in nb.cells if c.cell_type == "code"]
    marked = [c for c in code if _is_key(c)]
    if len(marked) > 1:
        raise ValueError(f"{name}: {len(marked)} cells are marked as the key figure; keep one")
    if marked:
        pngs = _pngs(marked[0])
        if not pngs:
            raise ValueError(f"{name}: the cell marked as key figure has no stored PNG output")
        return pngs[0]
    with_png = [c for c in code if _pngs(c)]
    if not with_png:
        raise ValueError(
            f"{name}: no stored PNG output to make a thumbnail from; execute the notebook "
            "(make execute) or tag a figure cell 'key-figure'"
        )
    if contains:
        with_png = [c for c in with_png if contains in c.source]
        if not with_png:
            raise ValueError(
                f"{name}: no code cell with a figure contains {contains!r} "
                "(KEY_FIGURES in tools/course_index.py); tag the key figure cell 'key-figure'"
            )
    return _pngs(with_png[0])[0]


def _key_figure_of(path: Path) -> bytes:
    nb = nbformat.read(path, as_version=4)
    return key_figure(nb, path.name, KEY_FIGURES.get(path.stem, ""))


#: A figure at least this many times wider than high is taken for panels side by side.
WIDE = 2.2


def first_panel(img: Image.Image, wide: float = WIDE) -> Image.Image:
    """The first of a wide figure's panels side by side (``img`` itself if not wide).

    A panel ends where a run of blank columns (nothing drawn between 20% and 90% of the
    height: an axes frame or its labels fill every column of a panel) begins, after the
    first 20% of the width. A suptitle running across that gap is cut off the top too.
    """
    w, h = img.size
    if w < wide * h:
        return img
    grey = np.asarray(img.convert("L"))
    blank = (grey[int(0.2 * h) : int(0.9 * h)] > 245).all(axis=0)
    run, gap = 0, None
    for x in range(int(0.2 * w), int(0.8 * w)):
        run = run + 1 if blank[x] else 0
        if run == 4:
            gap = x - 3
            break
    if gap is None:
        return img
    end = gap
    while end < w and blank[end]:
        end += 1
    across = ~(grey[: int(0.25 * h), gap:end] > 245).all(axis=1)  # rows drawn over the gap
    top = int(np.nonzero(across)[0].max()) + 3 if across.any() else 0
    return img.crop((0, top, min(w, gap + 4), h))


def thumbnail(png: bytes, width: int = WIDTH) -> bytes:
    """``png``'s first panel (:func:`first_panel`) scaled to ``width`` pixels wide (aspect
    kept), tagged with the source's hash."""
    if width < 1:
        raise ValueError(f"width must be a positive number of pixels, got {width}")
    img = Image.open(io.BytesIO(png))
    img = img.convert("RGBA") if img.mode in ("P", "LA") else img
    img = first_panel(img)
    height = max(1, round(img.height * width / img.width))
    small = img.resize((width, height), Image.Resampling.LANCZOS)
    info = PngImagePlugin.PngInfo()
    info.add_text(SOURCE_KEY, hashlib.sha256(png).hexdigest())
    buf = io.BytesIO()
    small.save(buf, format="PNG", optimize=True, pnginfo=info)
    return buf.getvalue()


def _target(root: Path, nb_path: Path) -> Path:
    return root / FIGURES / f"{nb_path.stem}.png"


def stale(root: Path = ROOT) -> list[str]:
    """Notebooks whose thumbnail is missing or not made from their current key figure."""
    found = []
    for path in notebook_paths(root):
        target = _target(root, path)
        try:
            want = hashlib.sha256(_key_figure_of(path))
        except ValueError as err:
            found.append(str(err))
            continue
        if not target.exists():
            found.append(f"{path.name}: no thumbnail {target.relative_to(root)}; run make figures")
            continue
        with Image.open(target) as img:
            have = img.info.get(SOURCE_KEY)
        if have != want.hexdigest():
            found.append(f"{path.name}: thumbnail not made from the key figure; run make figures")
    return found


def write_all(root: Path = ROOT, width: int = WIDTH, errors: list[str] | None = None) -> list[Path]:
    """Write every notebook's thumbnail under ``root``; returns the files written.

    A notebook without a key figure raises ``ValueError``, or, given an ``errors`` list, is
    skipped with its message appended there.
    """
    written = []
    for path in notebook_paths(root):
        try:
            png = _key_figure_of(path)
        except ValueError as err:
            if errors is None:
                raise
            errors.append(str(err))
            continue
        target = _target(root, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = thumbnail(png, width)
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    args = parser.parse_args(argv)
    if args.check:
        found = stale(args.root)
        print("\n".join(found) or "every notebook has an up-to-date thumbnail")
        return 1 if found else 0
    errors: list[str] = []
    written = write_all(args.root, errors=errors)
    print("\n".join(str(p.relative_to(args.root)) for p in written) or "thumbnails up to date")
    if errors:
        print("\n".join(["no thumbnail for:", *errors]), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
