"""MkDocs hook: each notebook of docs/notebooks/ (a jupytext percent script) becomes a page
with its outputs, executed on small sizes by tools/notebooks.py (cached between builds).

docs/notebooks/NAME.py gives the page notebooks/NAME.md, its figures under
notebooks/NAME_files/, and the executed notebook notebooks/NAME.ipynb for download; the
script itself is copied as it is. A notebook whose cell fails stops the build with the
cell's traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from mkdocs.structure.files import File

sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebooks  # noqa: E402  (tools/notebooks.py, beside this hook)


def on_files(files, config, **kwargs):
    for path in notebooks.paths():
        name = path.stem
        notebook = notebooks.executed(path)
        files_dir = f"{name}_files"
        body, outputs = notebooks.to_markdown(notebook, files_dir)
        header = (f"[Download the notebook]({name}.ipynb) (executed as shown) or "
                  f"[its jupytext script]({name}.py).\n\n")
        title_end = body.find("\n", body.find("# ")) + 1 if body.lstrip().startswith("# ") else 0
        page = body[:title_end] + "\n" + header + body[title_end:]
        files.append(File.generated(config, f"notebooks/{name}.md", content=page))
        files.append(File.generated(config, f"notebooks/{name}.ipynb", content=nbformat.writes(notebook)))
        for file_name, data in outputs.items():
            files.append(File.generated(config, f"notebooks/{file_name}", content=data))
    return files
