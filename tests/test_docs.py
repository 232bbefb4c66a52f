"""The documentation site: it builds in strict mode, it shows every public name with its
formula, and every documented command runs.

* ``mkdocs build --strict`` fails on a broken link, a missing anchor, a nav entry without
  its page, or a ``::: module.name`` directive that names nothing. Under CI (``CI`` set) a
  missing MkDocs is a failure, not a skip.
* Every public op, layer, functional form, initialiser, GAN loss, penalty, trick and
  optimizer is named in a table row of an atlas or reference page that also holds its
  formula, and every primitive (``Function`` subclass) of ``scratchgan.ops`` has its
  docstring rendered on an atlas page.
* Each atlas entry shows its forward, VJP and second-order note beside its open source, every
  primitive has a row on the atlas sheet (``atlas/sheet.md``) linked to its entry, and every
  class of a reference page shows its constructor's arguments in its signature.
* Each tutorial's command (the fenced block titled "Run it") is read from the page and run
  on small sizes: a few training steps, a demo's ``--quick`` form.
* The built site works offline: MathJax is shipped with it and every formula was wrapped by
  arithmatex (no raw TeX left in the text), no page loads anything from the network, and
  the search index is a script. Its pages cite papers, never the lecture notes by number,
  and hold no planning words. (``tests/test_docs_browser.py`` opens the pages in Chromium.)
"""

import importlib.util
import inspect
import os
import re
import shlex
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scratchgan import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
IN_CI = bool(os.environ.get("CI"))
REFERENCE_PAGES = sorted((DOCS / "atlas").glob("*.md")) + sorted((DOCS / "reference").glob("*.md"))
TUTORIAL_PAGES = sorted(p for p in (DOCS / "tutorials").glob("*.md") if p.name != "index.md")
COMMAND_PAGES = TUTORIAL_PAGES + [DOCS / "checking-frameworks.md", DOCS / "bug-patterns.md"]
RUN_IT = re.compile(r'^```bash title="Run it"\n(.*?)\n```', re.S | re.M)

# small sizes appended to a documented `scratchgan train` command (argparse: the last value wins)
SMALL_TOY = ["--steps", "20", "--batch-size", "32", "--hidden", "16", "--depth", "2", "--log-every", "10",
             "--checkpoint-every", "10", "--eval-samples", "200", "--no-progress"]
SMALL_IMAGE = ["--steps", "2", "--batch-size", "8", "--latent-dim", "6", "--width", "4", "--eval-samples", "20",
               "--log-every", "1", "--checkpoint-every", "2", "--no-progress"]


# -- the strict build ----------------------------------------------------------------------------
def build_site(site_dir):
    """``mkdocs build --strict`` into ``site_dir``; skips (fails under CI) without the docs packages."""
    missing = [name for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mathjax",
                                 "jupytext", "nbclient", "nbconvert", "ipykernel")
               if importlib.util.find_spec(name.split(".")[0]) is None]
    if missing:
        message = f"the docs packages are not installed ({', '.join(missing)}): pip install -e '.[docs]'"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return site_dir


@pytest.fixture(scope="session")
def site(once_per_session):
    """The site, built once for the test run (this module's tests and the browser's)."""
    return once_per_session("docs-site", build_site)


def site_pages(site):
    """path -> HTML of every page of the built site (the 404 page and the sitemap aside)."""
    return {page.relative_to(site).as_posix(): page.read_text(encoding="utf-8")
            for page in sorted(site.rglob("*.html")) if page.name != "404.html"}


class _PageText(HTMLParser):
    """The text a reader sees, without scripts and styles; with ``skip_docstrings`` also
    without the API entries that mkdocstrings renders from the code (``doc-object``)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, skip_docstrings):
        super().__init__(convert_charrefs=True)
        self.skip_docstrings, self.parts, self.skipping = skip_docstrings, [], []  # a stack of open tags

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        if self.skipping or tag in ("script", "style") or (self.skip_docstrings and "doc-object" in classes):
            self.skipping.append(tag)

    def handle_endtag(self, tag):
        if self.skipping and tag not in self.VOID:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def visible_text(html, skip_docstrings=True):
    parser = _PageText(skip_docstrings)
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def test_site_builds_in_strict_mode(site):
    assert (site / "atlas" / "conv.html").is_file()  # use_directory_urls: false, so file:// works


# -- math: every formula typeset by the MathJax shipped with the site ------------------------------
RAW_MATH = re.compile(r"\$\$|\\(?:frac|mathbb|operatorname|sum|sqrt|lVert|text)\b|\$[^$\s<][^$<]*\$")


def test_mathjax_is_shipped_with_the_site_and_nothing_is_loaded_from_elsewhere(site):
    mathjax = site / "assets" / "mathjax"
    assert (mathjax / "tex-chtml.js").is_file()
    assert list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")), "MathJax's fonts are missing"
    remote = []  # what a page loads (scripts, styles, images, frames), not what it links to
    for path, html in site_pages(site).items():
        for tag, url in re.findall(r'(<(?:script|img|iframe|link)\b[^>]*?\b(?:src|href)="([^"]*)")', html):
            if re.match(r"(?:[a-z][a-z0-9+.-]*:)?//", url, re.I):
                remote.append(f"{path}: {tag}")
    assert not remote, "assets loaded from the network:\n" + "\n".join(remote)


def test_every_formula_is_wrapped_for_mathjax(site):
    """No TeX left in the text outside the elements arithmatex made (code and scripts aside):
    a formula that arithmatex missed would show as raw TeX."""
    raw, math_pages = [], 0
    for path, html in site_pages(site).items():
        math_pages += 'class="arithmatex"' in html
        text = re.sub(r"<(script|style|pre|code)\b.*?</\1>", " ", html, flags=re.S)
        text = re.sub(r'<(span|div) class="arithmatex">.*?</\1>', " ", text, flags=re.S)
        raw += [f"{path}: ...{text[max(0, m.start() - 50):m.end() + 30]}..." for m in RAW_MATH.finditer(text)]
    assert not raw, "TeX outside rendered math:\n" + "\n".join(raw)
    assert math_pages >= 30, f"only {math_pages} pages hold math"


def test_theory_and_atlas_pages_write_formulas_as_math(site):
    for page in ["theory.html", "atlas/elementwise.html", "atlas/batchnorm.html", "reference/gan-losses.html",
                 "reference/optimizers.html", "tutorials/first-gan.html"]:
        assert (site / page).read_text(encoding="utf-8").count('class="arithmatex"') >= 10, page


# -- user pages cite papers, and speak of the library, not of the project's planning -------------
NOT_ON_USER_PAGES = {
    "a citation of the lecture notes by number ('seed 000')": re.compile(r"\bseeds? \d{3}\b", re.I),
    "the lecture notes as a source ('the seed notes')": re.compile(r"\bseed (?:lecture )?notes\b|\bthe seeds'", re.I),
    "planning: acceptance": re.compile(r"\bacceptance\b", re.I),
    "planning: an issue": re.compile(r"\bissues? ?#?\d+\b|\bthe issue(?:'s)?\b", re.I),
    "planning: a target/met column": re.compile(r"\btarget ?/ ?met\b", re.I),
}


def test_user_pages_cite_papers_and_hold_no_planning_words(site):
    found = []
    for path, html in site_pages(site).items():
        text = visible_text(html)
        for what, pattern in NOT_ON_USER_PAGES.items():
            found += [f"{path}: {what}: ...{text[max(0, m.start() - 40):m.end() + 40]}..."
                      for m in pattern.finditer(text)]
    assert not found, "\n".join(found)


def test_search_works_from_file_urls(site):
    """Material's offline plugin: the index as a script, the Worker shim shipped with the site."""
    index = site / "search" / "search_index.js"
    assert index.is_file() and index.read_text(encoding="utf-8").startswith("var __index = {")
    assert (site / "javascripts" / "iframe-worker-shim.js").is_file()
    assert 'src="javascripts/iframe-worker-shim.js"' in (site / "index.html").read_text(encoding="utf-8")


# -- every public name, with its formula -----------------------------------------------------------
from tools.mkdocs_atlas import markdown_cells as _cells  # noqa: E402  the hook's own row parser


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
    from scratchgan.ops import activation, conv, elementwise, linalg, loss, norm, pairwise, reduce, shape

    rendered = set()
    for page in sorted((DOCS / "atlas").glob("*.md")):
        rendered.update(re.findall(r"^::: (\S+)$", page.read_text(), re.M))
    missing = []
    for module in (elementwise, activation, reduce, shape, linalg, conv, norm, loss, pairwise):
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, Function) and value.__module__ == module.__name__:
                path = f"{module.__name__}.{name}"
                if path not in rendered:
                    missing.append(f"{path} (no '::: {path}' on an atlas page)")
                if not re.search(r"=|/d", value.__doc__ or ""):  # "y = ...", "d f(x)/dx: ..."
                    missing.append(f"{path} (its docstring has no formula)")
    assert not missing, "\n".join(missing)


# -- the atlas: formulas beside the source, and the sheet of every primitive ---------------------
DOC_HEADING = re.compile(r'<h\d id="([^"]+)" class="doc doc-heading">')


def atlas_primitives():
    """(atlas page, module.Name) of every ``Function`` subclass a ``:::`` entry renders in the atlas."""
    import importlib

    from scratchgan.autograd.function import Function

    found = []
    for page in sorted((DOCS / "atlas").glob("*.md")):
        for path in re.findall(r"^::: (\S+)$", page.read_text(), re.M):
            module, _, name = path.rpartition(".")
            value = getattr(importlib.import_module(module), name)
            if inspect.isclass(value) and issubclass(value, Function):
                found.append((page.with_suffix(".html").name, path))
    return found


def doc_entries(html):
    """module.Name -> the HTML of its mkdocstrings entry, up to the next entry."""
    headings = list(DOC_HEADING.finditer(html))
    ends = [h.start() for h in headings[1:]] + [len(html)]
    return {h.group(1): html[h.start():end] for h, end in zip(headings, ends)}


def test_atlas_entries_show_forward_vjp_and_second_order_beside_the_open_source(site):
    primitives = atlas_primitives()
    assert len(primitives) > 50, f"only {len(primitives)} primitives found in the atlas"
    pages, wrong = {}, []
    for page, path in primitives:
        html = pages.setdefault(page, (site / "atlas" / page).read_text(encoding="utf-8"))
        entry = doc_entries(html).get(path, "")
        text, _, source = entry.partition('<div class="atlas-entry__source">')
        for label in ("<dt>forward</dt>", "<dt>VJP</dt>", "<dt>second order</dt>"):
            if label not in text:
                wrong.append(f"{page}: {path} shows no {label}")
        if "def backward" not in visible_text(source, skip_docstrings=False):
            wrong.append(f"{page}: {path} shows no backward source beside its formulas")
    for page, html in pages.items():
        if "mkdocstrings-source" in html:
            wrong.append(f"{page}: a source listing is still folded in a <details> bar")
    assert not wrong, "\n".join(wrong)


def test_the_atlas_sheet_lists_every_primitive_linked_to_its_entry(site):
    """Each primitive rendered in the atlas has a row of atlas/sheet.html with its forward and
    VJP, and its link lands on an element of that id on its page."""
    sheet = (site / "atlas" / "sheet.html").read_text(encoding="utf-8")
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", sheet, re.S):
        link = re.search(r'<a href="([\w-]+\.html)#([^"]+)"', row)
        if link:
            rows[link.groups()] = [visible_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    pages, wrong = {}, []
    for page, path in atlas_primitives():
        cells = rows.get((page, path))
        if cells is None:
            wrong.append(f"{path}: no row of the sheet links to {page}#{path}")
            continue
        if len(cells) != 3 or not all(cell.strip() for cell in cells):
            wrong.append(f"{path}: its sheet row lacks the forward or the VJP: {cells}")
        html = pages.setdefault(page, (site / "atlas" / page).read_text(encoding="utf-8"))
        if f'id="{path}"' not in html:
            wrong.append(f"{path}: the sheet links to {page}#{path}, which has no such element")
    assert not wrong, "\n".join(wrong)
    assert "atlas/sheet.md" in (ROOT / "mkdocs.yml").read_text()


def test_reference_classes_show_their_constructor_arguments(site):
    """A class on a reference page renders its __init__ signature (merge_init_into_class)."""
    import importlib

    checked, wrong = 0, []
    for page in sorted((site / "reference").glob("*.html")):
        for path, entry in doc_entries(page.read_text(encoding="utf-8")).items():
            module, _, name = path.rpartition(".")
            value = getattr(importlib.import_module(module), name, None)
            if not inspect.isclass(value) or "doc-symbol-class" not in entry.split("</h", 1)[0]:
                continue
            arguments = [p for p in inspect.signature(value).parameters if p not in ("args", "kwargs")]
            signature = re.search(r'<div class="doc-signature highlight">(.*?)</div>', entry, re.S)
            shown = visible_text(signature.group(1), skip_docstrings=False) if signature else ""
            missing = [a for a in arguments if not re.search(rf"\b{a}\b", shown)]
            if arguments and (missing or not signature):
                wrong.append(f"{page.name}: {path} signature {shown!r} lacks {missing}")
            checked += 1
    assert checked >= 40, f"only {checked} classes checked on the reference pages"
    assert not wrong, "\n".join(wrong)


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
    if page.name in ("checking-frameworks.md", "bug-patterns.md"):
        pytest.importorskip("torch")
    if page.name == "checking-frameworks.md":
        pytest.importorskip("jax", reason="JAX is not installed (pip install 'scratchgan[jax]')")
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
