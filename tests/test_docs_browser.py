"""The built documentation site in a real browser, opened from ``file://`` as a reader who
downloaded it would: headless Chromium, driven through the DevTools protocol over a pipe
(``--remote-debugging-pipe``, no extra package).

* Every page: each formula that arithmatex wrapped is typeset by the MathJax shipped with
  the site (an ``mjx-container`` each, no MathJax error), no table, code block or display
  formula is wider than its box at a 1280 px wide window, and every image loads.
* Search (Material's offline plugin) finds pages without a web server.
* An atlas entry's source is visible without a click, beside its formulas and docstring, and
  a reference class shows its constructor's signature.

Without a Chromium binary the tests skip, except under CI (``CI`` set), where ``.ci/run``
installs Debian's ``chromium`` and a missing browser is a failure. A failing page leaves a
screenshot in the pytest temporary folder, named in the failure message.
"""

import base64
import json
import os
import select
import shutil
import subprocess
import time

import pytest

from test_docs import IN_CI, site  # noqa: F401 (the built site, a fixture)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1280, 900)
PAGE_TIMEOUT_S = 30

# Run in the page once it has loaded: what a reader would see go wrong.
PAGE_CHECKS = r"""
(async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  const visible = el => el.getClientRects().length > 0;
  const label = el => el.innerText.slice(0, 60).replace(/\s+/g, ' ');
  const problems = [];
  const wrapped = document.querySelectorAll('.arithmatex').length;
  const typeset = document.querySelectorAll('.arithmatex mjx-container').length;
  if (typeset !== wrapped) problems.push(`${wrapped} formulas, ${typeset} typeset by MathJax`);
  for (const error of document.querySelectorAll('mjx-merror')) {
    problems.push('MathJax error: ' + error.getAttribute('data-mjx-error'));
  }
  const boxes = [['table', '.md-typeset__scrollwrap'], ['code block', 'pre > code'],
                 ['display formula', 'mjx-container[display="true"]']];
  for (const [kind, selector] of boxes) {
    for (const box of document.querySelectorAll(selector)) {
      if (visible(box) && box.scrollWidth > box.clientWidth + 1) {
        problems.push(`${kind} ${box.scrollWidth} px wide in ${box.clientWidth} px: ${label(box)}`);
      }
    }
  }
  for (const image of document.images) {
    if (!(image.complete && image.naturalWidth > 0)) problems.push('image not loaded: ' + image.src);
  }
  return problems;
})()
"""

# On an atlas page: each entry's source listing (open, not in a <details>) and its text
# column (formulas and docstring) as boxes; on a reference page: a class's signature.
ATLAS_ENTRIES = r"""
(async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  const box = el => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left,
                                                                     right: r.right, height: r.height}; };
  return [...document.querySelectorAll('.atlas-entry')].map(entry => {
    const code = entry.querySelector('.atlas-entry__source pre > code');
    const text = entry.querySelector('.atlas-entry__text');
    const heading = entry.closest('.doc-object').querySelector('.doc-heading');
    return {id: heading.id, code: code && box(code), text: text && box(text),
            isClass: !!heading.querySelector('.doc-symbol-class'),
            formulas: !!(text && text.querySelector('.atlas-formulas dd')),
            folded: !!entry.closest('details:not([open])')};
  });
})()
"""

SIGNATURE = r"""
((id) => {
  const signature = document.getElementById(id).parentElement.querySelector('.doc-signature');
  return signature && {text: signature.innerText, height: signature.getBoundingClientRect().height};
})
"""

SEARCH = r"""
(async (query) => {
  const input = document.querySelector('.md-search__input');
  input.focus();
  input.value = query;
  input.dispatchEvent(new Event('input', {bubbles: true}));
  input.dispatchEvent(new KeyboardEvent('keyup', {bubbles: true}));
  for (let waited = 0; waited < 10000; waited += 100) {
    const results = [...document.querySelectorAll('.md-search-result__item')];
    if (results.length) return results.map(item => item.innerText.split('\n')[0]);
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  return [];
})
"""


class DevTools:
    """A headless Chromium and one page, spoken to over the DevTools pipe: commands go to the
    browser's fd 3 and replies come from its fd 4, one JSON message per NUL byte."""

    def __init__(self, binary, profile):
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--remote-debugging-pipe", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--no-first-run",
                "--no-default-browser-check", f"--user-data-dir={profile}", "about:blank"]
        # the protocol's file descriptors must be 3 and 4 in the browser: bash puts them there
        # (dash, Debian's sh, cannot redirect descriptors above 9)
        shell = f'exec 3<&{to_browser_read} 4>&{from_browser_write}; exec "$@"'
        self.process = subprocess.Popen(["bash", "-c", shell, "bash", *args], pass_fds=(to_browser_read, from_browser_write),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer, self._last_id, self._events = b"", 0, []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=self.session)

    def call(self, method, session=None, timeout=PAGE_TIMEOUT_S, **params):
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline, method)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"DevTools {method}: {reply['error']}")
                return reply["result"]
            self._events.append(reply)

    def _receive(self, deadline, waiting_for):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer {waiting_for} in {PAGE_TIMEOUT_S} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the DevTools pipe (exit code {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url):
        """Load ``url`` in the page and wait for its load event (images included)."""
        self._events = [e for e in self._events if e.get("method") != "Page.loadEventFired"]
        self.call("Page.navigate", session=self.session, url=url)
        deadline = time.monotonic() + PAGE_TIMEOUT_S
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            self._events.append(self._receive(deadline, f"the load of {url}"))

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", session=self.session, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed in the page: {result['exceptionDetails']}")
        return result["result"]["value"]

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", session=self.session, format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def chromium_binary():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    message = f"no Chromium binary on PATH (looked for {', '.join(BROWSERS)}): apt-get install chromium"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = chromium_binary()
    devtools = DevTools(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield devtools
    devtools.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    return tmp_path_factory.mktemp("docs-browser-screenshots")


def test_every_page_renders_its_math_fits_the_window_and_loads_its_images(site, browser, screenshots):
    pages = sorted(p for p in site.rglob("*.html") if p.name != "404.html")
    assert len(pages) > 30, f"only {len(pages)} pages built"
    failures = []
    for page in pages:
        name = page.relative_to(site).as_posix()
        browser.open(page.as_uri())
        problems = browser.evaluate(PAGE_CHECKS)
        if problems:
            shot = browser.screenshot(screenshots / (name.replace("/", "_") + ".png"))
            failures.append(f"{name} (screenshot {shot}):\n  " + "\n  ".join(problems))
    assert not failures, "\n".join(failures)


def test_search_finds_pages_when_the_site_is_opened_from_a_file(site, browser, screenshots):
    browser.open((site / "index.html").as_uri())
    titles = browser.evaluate(f"({SEARCH})({json.dumps('gradient penalty')})")
    if not titles:
        shot = browser.screenshot(screenshots / "search.png")
        pytest.fail(f"search for 'gradient penalty' returned nothing from file:// (screenshot {shot})")
    assert any("Penalties" in title for title in titles), titles


def test_atlas_source_is_open_beside_its_formulas_and_docstring(site, browser, screenshots):
    """At 1280 px every entry of an atlas page shows its source without a click, in a
    column to the right of its formulas and docstring, the two starting on the same row."""
    browser.open((site / "atlas" / "elementwise.html").as_uri())
    entries = browser.evaluate(ATLAS_ENTRIES)
    assert len(entries) >= 30, f"only {len(entries)} side-by-side entries on the elementwise page"
    wrong = []
    for entry in entries:
        code, text = entry["code"], entry["text"]
        if not code or code["height"] <= 0 or entry["folded"]:
            wrong.append(f"{entry['id']}: its source is not visible ({code})")
        elif not (code["top"] < text["bottom"] and text["top"] < code["bottom"]):
            wrong.append(f"{entry['id']}: source {code} and docstring {text} are not on the same row")
        elif code["left"] < text["right"]:
            wrong.append(f"{entry['id']}: the source is not to the right of the docstring")
        if entry["isClass"] and not entry["formulas"]:
            wrong.append(f"{entry['id']}: no forward/VJP formulas beside the source")
    if wrong:
        shot = browser.screenshot(screenshots / "atlas-side-by-side.png")
        pytest.fail(f"(screenshot {shot})\n" + "\n".join(wrong))


def test_reference_class_shows_its_constructor_signature(site, browser, screenshots):
    browser.open((site / "reference" / "layers.html").as_uri())
    signature = browser.evaluate(f"({SIGNATURE})({json.dumps('scratchgan.nn.Conv2d')})")
    if not signature or signature["height"] <= 0:
        shot = browser.screenshot(screenshots / "reference-signature.png")
        pytest.fail(f"scratchgan.nn.Conv2d shows no signature (screenshot {shot}): {signature}")
    for argument in ("in_channels", "out_channels", "kernel_size", "stride=1", "padding=0", "groups=1"):
        assert argument in signature["text"], (argument, signature["text"])
