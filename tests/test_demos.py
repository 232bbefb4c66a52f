"""Every demo script runs in its quick form, prints its figures, writes its PNGs and its own assertions hold.

Demos are found by glob, so a new script in demos/ is tested without editing this file.
A demo takes ``main(["--quick", "--out", DIR])``; one whose ``main`` takes no arguments
(it writes no figure, e.g. double_backward.py) is called plainly.
"""

import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

DEMO_DIR = Path(__file__).resolve().parents[1] / "demos"
DEMOS = sorted(p for p in DEMO_DIR.glob("*.py") if not p.name.startswith("_"))  # _demo.py: shared helpers
sys.path.insert(0, str(DEMO_DIR))  # as when a demo runs as a script: `import _demo` works


def load(path):
    spec = importlib.util.spec_from_file_location(f"demo_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demos_are_found():
    assert DEMOS, "no scripts in demos/"


@pytest.mark.parametrize("path", DEMOS, ids=[p.stem for p in DEMOS])
def test_demo_runs_and_its_claim_holds(path, tmp_path, capsys):
    main = load(path).main
    takes_arguments = bool(inspect.signature(main).parameters)
    if takes_arguments:
        main(["--quick", "--out", str(tmp_path)])
    else:
        main()
    assert capsys.readouterr().out.strip(), f"{path.name} printed nothing"
    if takes_arguments:
        assert list(tmp_path.glob("*.png")), f"{path.name} wrote no PNG into --out"
