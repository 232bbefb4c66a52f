"""The tutorials' notebooks (docs/notebooks/*.py, jupytext percent scripts) execute on their
small sizes without an error and draw their figures; the parameter injection refuses
notebooks it cannot inject into.

Executions are shared with the site build through tools/notebooks.py's cache, which is keyed
by the notebook, its sizes and every scratchgan source file: a notebook is executed again
whenever any of them changes.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from test_docs import IN_CI  # noqa: E402

NEEDED = ("jupytext", "nbclient", "ipykernel", "nbconvert")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]
if MISSING:
    if IN_CI:
        raise ImportError(f"the notebook packages are not installed ({', '.join(MISSING)}): pip install -e '.[test]'")
    pytest.skip(f"the notebook packages are not installed ({', '.join(MISSING)})", allow_module_level=True)

import notebooks  # noqa: E402  (tools/notebooks.py)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
PATHS = notebooks.paths()


def test_every_notebook_has_small_sizes_for_the_site():
    assert PATHS, "no notebook in docs/notebooks"
    assert sorted(path.stem for path in PATHS) == sorted(notebooks.SMALL)


@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_notebook_executes_and_draws_its_figures(path):
    notebook = notebooks.executed(path)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [output for cell in code for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
    assert all(cell.get("execution_count") for cell in code), "a code cell was not executed"
    figures = [output for cell in code for output in cell.outputs if "image/png" in output.get("data", {})]
    assert len(figures) >= 2
    tags = [cell.metadata.get("tags", []) for cell in notebook.cells]
    where = [index for index, cell_tags in enumerate(tags) if "parameters" in cell_tags]
    assert len(where) == 1 and "injected-parameters" in tags[where[0] + 1]
    for name, value in notebooks.SMALL[path.stem].items():
        assert f"{name} = {value!r}" in notebook.cells[where[0] + 1].source
    body, outputs = notebooks.to_markdown(notebook, f"{path.stem}_files")
    assert len(outputs) == len(figures)
    assert all(f"{name}" in body for name in outputs)


@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_notebook_links_to_its_tutorial(path):
    text = path.read_text()
    tutorial = ROOT / "docs" / "tutorials" / f"{path.stem}.md"
    assert tutorial.is_file() and f"../tutorials/{path.stem}.md" in text
    assert f"notebooks/{path.stem}.md" in tutorial.read_text(), f"{tutorial.name} does not link to its notebook"


def test_injection_names_the_missing_parameters_cell_and_unknown_names():
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("steps = 10")])
    with pytest.raises(ValueError, match="one cell tagged 'parameters', found 0"):
        notebooks.inject(notebook, {"steps": 2})
    notebook.cells[0].metadata["tags"] = ["parameters"]
    with pytest.raises(ValueError, match=r"assigns no \['batch'\]"):
        notebooks.inject(notebook, {"batch": 2})
    notebooks.inject(notebook, {"steps": 2})
    assert notebook.cells[1].source.endswith("steps = 2")
    assert notebook.cells[1].metadata["tags"] == ["injected-parameters"]


def test_a_failing_cell_stops_execution_with_its_traceback(tmp_path):
    from nbclient.exceptions import CellExecutionError

    script = tmp_path / "broken.py"
    script.write_text('# %% tags=["parameters"]\nsteps = 1\n\n# %%\nraise RuntimeError(f"cell broke at {steps}")\n')
    with pytest.raises(CellExecutionError, match="cell broke at 1"):
        notebooks.execute(script, {})
