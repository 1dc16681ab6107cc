"""The report in a real browser: Debian's headless Chromium, driven over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: no websocket client, no browser download). Every image must load, nothing may be
fetched from outside the report folder, no console error may appear; a screenshot is kept in tests/artifacts/.

Chromium comes from `apt-get install chromium` (.ci/run installs it, and fails when it cannot); without it the
tests skip locally, and fail in CI (tests/conftest.py, .ci/check_ran.py).
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import geobench
from conftest import REPO
from geobench import report as rep

ARTIFACTS = REPO / "tests" / "artifacts"
ERROR_EVENTS = ("Runtime.exceptionThrown", "Network.loadingFailed")


def chromium_path() -> str | None:
    for name in (os.environ.get("GEOBENCH_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Chromium:
    """Headless Chromium; DevTools messages are NUL-terminated JSON on fd 3 (to it) and fd 4 (from it)."""

    def __init__(self, exe: str, timeout: float = 60):
        self.timeout, self.events, self._id, self._buf = timeout, [], 0, b""
        to_r, self._w = os.pipe()
        self._r, from_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="geobench-chromium-")

        def child_fds():  # move the pipe ends to fds 3 and 4 (via high numbers, so neither clobbers the other)
            import fcntl

            a, b = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", f"--user-data-dir={self.profile}", "about:blank"],
            preexec_fn=child_fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._next()
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_for(self, method: str, since: int = 0) -> dict:
        """The first `method` event among the events from index `since` on (waiting for it if need be)."""
        while not any(e.get("method") == method for e in self.events[since:]):
            self.events.append(self._next())
        return next(e for e in self.events[since:] if e.get("method") == method)

    def _next(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._w)
        os.close(self._r)
        shutil.rmtree(self.profile, ignore_errors=True)


def open_page(exe: str, page: Path, screenshot: Path | None = None) -> dict:
    """Load a page; return its images (src, complete, naturalWidth), the URLs it requested and its errors."""
    browser = Chromium(exe)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=s)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=s)
        browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=s)
        browser.wait_for("Page.loadEventFired")
        js = "JSON.stringify(Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]))"
        images = json.loads(browser.send("Runtime.evaluate", {"expression": js, "returnByValue": True},
                                         session=s)["result"]["value"])
        if screenshot is not None:
            shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=s)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        events = browser.events
    finally:
        browser.close()
    errors = [e for e in events if e.get("method") in ERROR_EVENTS
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")]
    urls = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
    return {"images": images, "errors": errors, "urls": urls}


needs_chromium = pytest.mark.skipif(chromium_path() is None,
                                    reason="needs Chromium (apt-get install chromium; .ci/run installs it)")


@pytest.fixture
def report_page(tmp_path, session_home) -> Path:
    res = tmp_path / "results"
    for model, step in (("random", None), ("<answer>(48.8, 2.3) B no</answer>", 5)):
        geobench.evaluate(model, "geoloc_toy,crossview_toy,scene_toy", backend="dummy", limit=6, output=res,
                          checkpoint_step=step, progress=False)
    out = tmp_path / "report"
    rep.build(out, *rep.collect([], str(res)))
    return out / "index.html"


@needs_chromium
def test_report_loads_in_chromium_without_errors(report_page):
    shot = ARTIFACTS / "report_screenshot.png"
    seen = open_page(chromium_path(), report_page, screenshot=shot)
    assert len(seen["images"]) >= 5
    broken = [src for src, complete, width in seen["images"] if not complete or width == 0]
    assert not broken, f"images that did not load: {broken}"
    assert not seen["errors"], seen["errors"]
    folder = report_page.parent.resolve().as_uri()
    assert all(u.startswith(folder) or u.startswith("data:") for u in seen["urls"]), seen["urls"]
    assert shot.stat().st_size > 20_000  # a real page, kept as the test's artifact


@needs_chromium
def test_the_check_catches_a_broken_image(report_page):
    """The same check on a page with a missing image must fail: the browser test can see what it claims to."""
    (report_page.parent / "crossview_acc_crossview_toy.png").unlink()
    seen = open_page(chromium_path(), report_page)
    assert any(src == "crossview_acc_crossview_toy.png" and width == 0 for src, _, width in seen["images"])
    assert seen["errors"]


# ------------------------------------------------------------------------------- the sample explorer (issue 16)

HOSTILE = ('<think></script><script>alert(1)</script><!-- x</think><answer><img src=x onerror=alert(2)> '
           '<a href="javascript:alert(3)">link</a> (48.8, 2.3) B yes</answer>')


class Tab:
    """One page in headless Chromium: navigate, run JavaScript, click through, take screenshots."""

    def __init__(self, exe: str):
        self.browser = Chromium(exe)
        target = self.browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.s = self.browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.browser.send(f"{domain}.enable", session=self.s)
        self.browser.send("Emulation.setDeviceMetricsOverride",
                          {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=self.s)

    def goto(self, path: Path) -> None:
        n = len(self.browser.events)
        self.browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session=self.s)
        self.browser.wait_for("Page.loadEventFired", since=n)

    def js(self, expression: str):
        r = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=self.s)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    def follow(self, expression: str) -> str:
        """Click the element `expression` finds; wait for the page it opens; return its URL."""
        n = len(self.browser.events)
        self.js(f"{expression}.click()")
        self.browser.wait_for("Page.loadEventFired", since=n)
        return self.js("location.href")

    def choose(self, key: str, value: str) -> None:
        """Pick an option of the explorer's filter `key`: the page re-renders from the URL fragment."""
        self.js(f"(() => {{ const s = document.querySelector('select[data-key={key}]'); s.value = {json.dumps(value)};"
                "s.dispatchEvent(new Event('change')); })()")

    def screenshot(self, path: Path) -> Path:
        shot = self.browser.send("Page.captureScreenshot", {"format": "png"}, session=self.s)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def errors(self) -> list[dict]:
        return [e for e in self.browser.events if e.get("method") in ERROR_EVENTS + ("Page.javascriptDialogOpening",)
                or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
                or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")]

    def urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.browser.events
                if e.get("method") == "Network.requestWillBeSent"]


def not_blank(png: Path) -> bool:
    """A screenshot with content: many colours and a real share of non-background pixels."""
    from PIL import Image

    with Image.open(png) as im:
        grey = im.convert("L")
        dark = sum(grey.histogram()[:200]) / (grey.width * grey.height)
        return len(im.convert("RGB").getcolors(1 << 20) or []) > 50 and dark > 0.03


def page_rows(page: Path) -> list[dict]:
    import re

    text = page.read_text(encoding="utf-8")
    return json.loads(re.search(r'id="gb-data">(.*?)</script>', text, re.S).group(1))["rows"]


@pytest.fixture(scope="module")
def explorer_report(tmp_path_factory, session_home) -> Path:
    res = tmp_path_factory.mktemp("explorer") / "results"
    for model, name, step in (("random", "base", None), ("<think>Tiles and a flag.</think><answer>(48.8, 2.3) B yes"
                                                        "</answer>", "ckpt", 5), (HOSTILE, "hostile", 6)):
        geobench.evaluate(model, "geoloc_toy,crossview_toy,scene_toy", backend="dummy", limit=12, output=res,
                          checkpoint_step=step, run_name=name, progress=False)
    out = res.parent / "report"
    rep.build(out, *rep.collect([], str(res)))
    return out


@needs_chromium
def test_explorer_filters_links_map_and_compare_in_chromium(explorer_report):
    out = explorer_report
    tab = Tab(chromium_path())
    try:
        tab.goto(out / "index.html")
        # a cell of the results table opens its samples, filtered: acc@2500km of the hostile checkpoint
        url = tab.follow("document.querySelector(\"a[href='samples-hostile-geoloc_toy.html#band=le2500']\")")
        assert url.endswith("samples-hostile-geoloc_toy.html#band=le2500")
        rows = page_rows(out / "samples-hostile-geoloc_toy.html")
        within = sum(r["km"] is not None and r["km"] <= 2500 for r in rows)
        assert tab.js("document.querySelector('select[data-key=band]').value") == "le2500"
        assert tab.js("document.getElementById('gb-count').textContent").startswith(f"{within} of {len(rows)} samples")
        tab.choose("band", "")
        tab.choose("outcome", "wrong")
        wrong = sum(r["ok"] == 0 and not r["u"] for r in rows)
        assert tab.js("document.querySelectorAll('#gb-samples .sample').length") == wrong
        assert "outcome=wrong" in tab.js("location.hash")
        # the model's hostile output is shown as text: no dialog, no injected element
        text = tab.js("document.getElementById('gb-samples').innerText")
        assert "</script><script>alert(1)</script>" in text and '<a href="javascript:alert(3)">' in text
        assert tab.js("document.querySelectorAll('script').length") == 2
        assert tab.js("Array.from(document.querySelectorAll('#gb-samples img')).every(i => "
                      "/^thumbs\\/[0-9a-f]+\\.jpg$/.test(i.getAttribute('src')) && i.complete && i.naturalWidth > 0)")
        assert tab.js("document.querySelectorAll('#gb-samples a').length") == 0
        assert not_blank(tab.screenshot(ARTIFACTS / "explorer_hostile.png"))
        # the map: each point opens its sample
        tab.choose("outcome", "")
        assert tab.js("document.querySelectorAll('.map g.pt').length") == len(rows)
        tab.js("document.querySelector('.map g.pt').dispatchEvent(new MouseEvent('click'))")
        assert tab.js("document.querySelectorAll('#gb-samples .sample').length") == 1
        assert tab.js("location.hash") == f"#id={rows[0]['i']}"
        assert not_blank(tab.screenshot(ARTIFACTS / "explorer_hostile_map.png"))
        tab.goto(out / "samples-base-geoloc_toy.html")  # random guesses: the map in full colour
        assert tab.js("document.querySelectorAll('.map g.pt').length") == 12
        assert not_blank(tab.screenshot(ARTIFACTS / "explorer_map.png"))
        # free-text search
        tab.goto(out / "samples-base-crossview_toy.html")
        tab.js("(() => { const i = document.getElementById('gb-search'); i.value = 'GUESS';"
               "i.dispatchEvent(new Event('change')); })()")
        assert tab.js("document.querySelectorAll('#gb-samples .sample').length") == 12
        assert tab.js("document.querySelectorAll('#gb-samples figure.true').length") == 12
        assert not_blank(tab.screenshot(ARTIFACTS / "explorer_crossview.png"))
        # the compare view, through the index's selector
        tab.goto(out / "index.html")
        page = "compare-base-vs-ckpt-scene_toy.html"
        tab.js(f"document.getElementById('gb-compare').value = '{page}'")
        url = tab.follow("document.getElementById('gb-compare-go')")
        assert url.endswith(page)
        n = tab.js("document.querySelectorAll('#gb-compare-table tr').length") - 1
        assert n == min(50, len(page_rows(out / page)))
        assert not_blank(tab.screenshot(ARTIFACTS / "explorer_compare.png"))
        tab.choose("flip", "rw")
        flips = sum(r["a"] == 1 and r["b"] == 0 for r in page_rows(out / page))
        assert flips
        assert tab.js("document.querySelectorAll('#gb-compare-table tr.rw').length") == flips
        assert not tab.errors(), tab.errors()
        folder = out.resolve().as_uri()
        assert all(u.startswith(folder) or u.startswith("data:") for u in tab.urls()), tab.urls()
    finally:
        tab.browser.close()
