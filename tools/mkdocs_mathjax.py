"""MkDocs hook: ship MathJax with the site, so that formulas render offline.

The pages write math as ``$...$`` and ``$$...$$``; ``pymdownx.arithmatex`` (generic mode)
wraps each formula in an element of class ``arithmatex``, and MathJax typesets those
elements in the browser. MathJax itself comes from the ``django-static-mathjax`` package
(MathJax 3's ``es5`` build as plain files, no Django needed): this hook adds the files that
the CommonHTML output needs to the site under ``assets/mathjax/``. Nothing is fetched when
a page is viewed, from a web server or from ``file://``.
"""

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

SITE_FOLDER = "assets/mathjax"
# the TeX-to-CommonHTML bundle, its fonts, the TeX extensions it autoloads (\boldsymbol,
# \cancel ...) and what its context menu loads on request (accessibility, speech)
NEEDED = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y", "sre")


def mathjax_folder():
    """The ``es5`` folder of the installed MathJax."""
    try:
        import mathjax
    except ImportError as error:
        raise PluginError("MathJax is not installed: pip install -e '.[docs]' "
                          "(the django-static-mathjax package)") from error
    folder = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (folder / "tex-chtml.js").is_file():
        raise PluginError(f"no MathJax 3 es5 build at {folder} (expected tex-chtml.js there)")
    return folder


def on_files(files, config):
    folder = mathjax_folder()
    for name in NEEDED:
        path = folder / name
        for source in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if source.is_file():
                uri = f"{SITE_FOLDER}/{source.relative_to(folder).as_posix()}"
                files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files
