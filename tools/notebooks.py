"""The tutorials' notebooks: kept as jupytext percent scripts (docs/notebooks/NAME.py),
executed on small sizes, and rendered as Markdown pages with their outputs.

A notebook has one cell tagged ``parameters`` with the sizes a reader runs
(``steps = 5000``). For the site and the tests, ``SMALL[name]`` gives smaller values; they
go into a cell of their own, tagged ``injected-parameters``, placed after the reader's cell
(as papermill does), so that the rendered page shows both and says which sizes produced
its outputs.

    python tools/notebooks.py docs/notebooks/first-gan.py      # execute, print a summary

Executed notebooks are cached under ``.cache/notebooks/``, keyed by the notebook's text, its
small sizes and the text of every scratchgan source file, so that building the site twice
(the docs tests do) executes each notebook once, and any change to the library runs it again.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "docs" / "notebooks"
CACHE = ROOT / ".cache" / "notebooks"
TIMEOUT_S = 600  # per cell

# the sizes the site's pages and the tests run (the notebooks' own values are the tutorials')
SMALL = {
    "aae": {"steps": 30},
    "bigan": {"steps": 5},
    "conditional": {"steps": 5},
    "dcgan-mnist": {"steps": 20},
    "first-gan": {"steps": 1000},
    "infogan": {"steps": 5},
    "mode-collapse": {"steps": 300},
    "stochastic-backprop": {"repetitions": 2000, "gan_steps": 300},
}


def paths() -> list[Path]:
    """Every notebook of docs/notebooks, in name order."""
    return sorted(NOTEBOOKS.glob("*.py"))


def read(path):
    """The notebook of a jupytext percent script."""
    import jupytext

    return jupytext.read(str(path))


def inject(notebook, parameters: dict):
    """Add a cell tagged ``injected-parameters`` after the cell tagged ``parameters``, which
    assigns ``parameters``; raises ValueError when the notebook has no such cell or a name
    is not assigned in it."""
    import nbformat

    tagged = [index for index, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"expected one cell tagged 'parameters', found {len(tagged)}")
    source = notebook.cells[tagged[0]].source
    missing = [name for name in parameters if not any(line.split("=")[0].strip() == name for line in source.splitlines())]
    if missing:
        raise ValueError(f"the parameters cell assigns no {missing}; it reads:\n{source}")
    lines = ["# the sizes this page was executed with (small, so that the site builds in seconds)"]
    lines += [f"{name} = {value!r}" for name, value in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(tagged[0] + 1, cell)
    return notebook


def execute(path, parameters: dict | None = None):
    """Run the notebook at ``path`` from the repository root with ``parameters`` injected
    (default: its ``SMALL`` sizes); returns the executed notebook. A failing cell raises
    nbclient's CellExecutionError, which names the cell and the traceback."""
    from nbclient import NotebookClient

    path = Path(path)
    notebook = read(path)
    parameters = SMALL.get(path.stem, {}) if parameters is None else parameters
    if parameters:
        inject(notebook, parameters)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(notebook, timeout=TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    return notebook


def _key(path: Path, parameters: dict) -> str:
    digest = hashlib.sha256()
    digest.update(path.read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True).encode())
    for source in sorted((ROOT / "scratchgan").rglob("*.py")):
        digest.update(source.relative_to(ROOT).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:20]


def executed(path):
    """The executed notebook at ``path`` on its SMALL sizes, from the cache when the
    notebook, its sizes and the library are unchanged; executed (and cached) otherwise."""
    import nbformat
    from filelock import FileLock

    path = Path(path)
    parameters = SMALL.get(path.stem, {})
    cached = CACHE / f"{path.stem}-{_key(path, parameters)}.ipynb"
    CACHE.mkdir(parents=True, exist_ok=True)
    # one process executes a notebook, others (test workers, a second build) wait and read it
    with FileLock(str(CACHE / f"{path.stem}.lock")):
        if cached.is_file():
            try:
                return nbformat.read(str(cached), as_version=4)
            except Exception:  # a cache file cut short by a killed build: run it again
                cached.unlink(missing_ok=True)
        notebook = execute(path, parameters)
        _store(cached, notebook)
    return notebook


def _store(cached: Path, notebook):
    """Cache an executed notebook as ``cached`` (written whole, then renamed), replacing the
    notebook's older cache files."""
    import nbformat

    for old in CACHE.glob(f"{cached.name.rsplit('-', 1)[0]}-*.ipynb"):
        old.unlink(missing_ok=True)
    partial = cached.with_suffix(".partial")
    nbformat.write(notebook, str(partial))
    partial.replace(cached)


def to_markdown(notebook, files_dir: str):
    """(Markdown text, {file name under files_dir: bytes}) of an executed notebook: code
    cells as Python blocks, text outputs as plain blocks, figures as PNG files."""
    from nbconvert import MarkdownExporter

    body, resources = MarkdownExporter().from_notebook_node(notebook, resources={"output_files_dir": files_dir})
    return body, dict(resources.get("outputs", {}))


def main(argv=None):
    for path in argv if argv is not None else sys.argv[1:]:
        notebook = execute(path)
        images = sum("image/png" in output.get("data", {}) for cell in notebook.cells
                     for output in cell.get("outputs", []))
        print(f"{path}: {len(notebook.cells)} cells executed, {images} figures")


if __name__ == "__main__":
    main()
