"""The documentation site: it builds in strict mode, it shows every public name with its
formula, and every documented command runs.

* ``mkdocs build --strict`` fails on a broken link, a missing anchor, a nav entry without
  its page, or a ``::: module.name`` directive that names nothing. Under CI (``CI`` set) a
  missing MkDocs is a failure, not a skip.
* Every public op, layer, functional form, initialiser, GAN loss, penalty, trick and
  optimizer is named in a table row of an atlas or reference page that also holds its
  formula, and every primitive (``Function`` subclass) of ``scratchgan.ops`` has its
  docstring rendered on an atlas page.
* Each tutorial's command (the fenced block titled "Run it") is read from the page and run
  on small sizes: a few training steps, a demo's ``--quick`` form.
"""

import importlib.util
import inspect
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from scratchgan import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
IN_CI = bool(os.environ.get("CI"))
REFERENCE_PAGES = sorted((DOCS / "atlas").glob("*.md")) + sorted((DOCS / "reference").glob("*.md"))
TUTORIAL_PAGES = sorted(p for p in (DOCS / "tutorials").glob("*.md") if p.name != "index.md")
COMMAND_PAGES = TUTORIAL_PAGES + [DOCS / "checking-frameworks.md"]
RUN_IT = re.compile(r'^```bash title="Run it"\n(.*?)\n```', re.S | re.M)

# small sizes appended to a documented `scratchgan train` command (argparse: the last value wins)
SMALL_TOY = ["--steps", "20", "--batch-size", "32", "--hidden", "16", "--depth", "2", "--log-every", "10",
             "--checkpoint-every", "10", "--eval-samples", "200", "--no-progress"]
SMALL_IMAGE = ["--steps", "2", "--batch-size", "8", "--latent-dim", "6", "--width", "4", "--eval-samples", "20",
               "--log-every", "1", "--checkpoint-every", "2", "--no-progress"]


# -- the strict build ----------------------------------------------------------------------------
def test_site_builds_in_strict_mode(tmp_path):
    missing = [name for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
               if importlib.util.find_spec(name.split(".")[0]) is None]
    if missing:
        message = f"the docs packages are not installed ({', '.join(missing)}): pip install -e '.[docs]'"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "site" / "atlas" / "conv" / "index.html").is_file()


# -- every public name, with its formula -----------------------------------------------------------
def _cells(row):
    """The cells of a Markdown table row; a | inside `code` does not split."""
    cells, current, in_code = [], "", False
    for char in row.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    return cells + [current.strip()]


def documented_names():
    """Names written alone in `code` in the first two cells of a table row on an atlas or
    reference page whose other cells hold some text (the formula)."""
    names = set()
    for page in REFERENCE_PAGES:
        for line in page.read_text().splitlines():
            if not line.startswith("|") or set(line) <= set("|-: "):
                continue
            cells = _cells(line)
            for position, cell in enumerate(cells[:2]):
                others = [c for i, c in enumerate(cells) if i != position and c]
                if others:
                    names.update(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cell))
    return names


def _own_public(module, kinds=(inspect.isfunction, inspect.isclass)):
    return {name for name, value in vars(module).items()
            if not name.startswith("_") and any(kind(value) for kind in kinds)
            and getattr(value, "__module__", None) == module.__name__}


def public_names():
    """name -> where it comes from, for everything the atlas and the reference must show."""
    import scratchgan.nn as nn
    import scratchgan.optim as optim
    import scratchgan.ops as ops
    from scratchgan.gan import losses, penalties, tricks
    from scratchgan.nn import functional, init, utils

    found = {}
    for name, value in vars(ops).items():
        if not name.startswith("_") and callable(value) and not inspect.ismodule(value):
            found[name] = "scratchgan.ops"
    for name, value in vars(nn).items():
        if inspect.isclass(value):
            found[name] = "scratchgan.nn"
    for name, value in vars(functional).items():
        if (not name.startswith("_") and inspect.isfunction(value)
                and not value.__module__.startswith("scratchgan.ops._")):
            found[name] = "scratchgan.nn.functional"
    for module in (init, utils, penalties, tricks):
        found.update(dict.fromkeys(_own_public(module), module.__name__))
    found.update(dict.fromkeys(_own_public(losses) - {"get", "names"}, "scratchgan.gan.losses"))
    found.update(dict.fromkeys(losses.names(), "scratchgan.gan.losses.get"))
    found.update(dict.fromkeys(optim.__all__, "scratchgan.optim"))
    return found


def test_public_names_are_enumerated():
    names = public_names()
    for expected in ("conv_transpose2d", "BatchNorm2d", "avg_pool2d", "dcgan_init_", "spectral_norm",
                     "gradient_penalty", "unrolled_generator_loss", "f_js", "FJensenShannon", "Adam"):
        assert expected in names, expected


def test_every_public_name_appears_with_its_formula_in_the_atlas_or_the_reference():
    documented = documented_names()
    missing = sorted(f"{origin}: {name}" for name, origin in public_names().items() if name not in documented)
    assert not missing, "not in any table row of docs/atlas or docs/reference:\n" + "\n".join(missing)


def test_every_primitive_has_a_formula_docstring_rendered_in_the_atlas():
    from scratchgan.autograd.function import Function
    from scratchgan.ops import activation, conv, elementwise, linalg, loss, norm, reduce, shape

    rendered = set()
    for page in sorted((DOCS / "atlas").glob("*.md")):
        rendered.update(re.findall(r"^::: (\S+)$", page.read_text(), re.M))
    missing = []
    for module in (elementwise, activation, reduce, shape, linalg, conv, norm, loss):
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, Function) and value.__module__ == module.__name__:
                path = f"{module.__name__}.{name}"
                if path not in rendered:
                    missing.append(f"{path} (no '::: {path}' on an atlas page)")
                if not re.search(r"=|/d", value.__doc__ or ""):  # "y = ...", "d f(x)/dx: ..."
                    missing.append(f"{path} (its docstring has no formula)")
    assert not missing, "\n".join(missing)


# -- the tutorials' commands -----------------------------------------------------------------------
def documented_commands(page):
    """The argv lists of the page's "Run it" block (commands joined by && run in turn)."""
    blocks = RUN_IT.findall(page.read_text())
    assert len(blocks) == 1, f"{page.name}: expected one block titled 'Run it', found {len(blocks)}"
    return [shlex.split(part) for part in blocks[0].split("&&")]


def run_train(args, out):
    from scratchgan.gan.trainer import family_of

    data = args[args.index("--data") + 1] if "--data" in args else "mnist"
    small = SMALL_TOY if family_of(data) == "toy" else SMALL_IMAGE
    if "--latent-dim" in args:  # a documented latent size is part of the recipe (the AAE's 2-D mixture prior)
        at = small.index("--latent-dim")
        small = small[:at] + small[at + 2:]
    assert cli.main([*args, *small, "--out", str(out)]) == 0
    assert (out / "metrics.json").is_file() and (out / "samples.png").is_file()


def run_script(path, args, out):
    """``python path args`` as a demo runs: its folder on sys.path, ``main`` called in-process."""
    path = ROOT / path
    sys.path.insert(0, str(path.parent))  # demos import _demo from their folder
    try:
        spec = importlib.util.spec_from_file_location(f"documented_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if inspect.signature(module.main).parameters:
            module.main([*args, "--quick", "--out", str(out)])
            assert list(out.glob("*.png")), f"{path.name} wrote no PNG"
        else:
            module.main()
    finally:
        sys.path.remove(str(path.parent))


def _command_params():
    """One test per page; the framework-checking example needs PyTorch (a parity test)."""
    return [pytest.param(page, marks=[pytest.mark.parity] if page.name == "checking-frameworks.md" else [],
                         id=page.stem) for page in COMMAND_PAGES]


def test_every_tutorial_is_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in TUTORIAL_PAGES:
        assert f"tutorials/{page.name}" in nav, page.name


@pytest.mark.parametrize("page", _command_params())
def test_documented_command_runs_on_small_sizes(page, tmp_path, capsys, restore_backend):
    if page.name == "checking-frameworks.md":
        pytest.importorskip("torch")
    for position, argv in enumerate(documented_commands(page)):
        out = tmp_path / f"command{position}"
        if argv[0] == "scratchgan":
            assert argv[1] == "train", f"{page.name}: only `scratchgan train` is run here, got {argv}"
            run_train(argv[1:], out)
        elif argv[0] == "python" and argv[1].endswith(".py"):
            out.mkdir()
            run_script(argv[1], argv[2:], out)
        else:
            pytest.fail(f"{page.name}: do not know how to run {shlex.join(argv)}")
    assert capsys.readouterr().out.strip(), f"{page.name}: the command printed nothing"
