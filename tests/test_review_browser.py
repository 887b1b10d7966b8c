"""The review page in a real browser: Debian's headless chromium, driven over the DevTools protocol.

The protocol runs over a pipe (``--remote-debugging-pipe``: NUL-terminated JSON on fds 3 and 4), so
the test needs nothing beyond the standard library and chromium itself. It loads the page from a
file URL, measures every box on screen against its block at two window widths, hovers and
focuses a box, follows a box to its block, and keeps a screenshot under the pytest tmp dir.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from vlparse.export.review import render_review
from vlparse.core.geometry import Frame
from vlparse.core.results import FAILED, Block, Document, PageInfo, PageResult

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and os.path.exists(p)), None)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium): "
                       "the review page's browser test needs a real browser"),
]

TIMEOUT = 30.0  # seconds for any one protocol answer


class Chromium:
    """A headless chromium and one page of it, spoken to over the DevTools pipe."""

    def __init__(self, profile: Path, width: int, height: int):
        cmd_r, self._cmd_w = os.pipe()  # we write commands, chromium reads fd 3
        self._res_r, res_w = os.pipe()  # chromium writes answers on fd 4

        def fds() -> None:  # in the child, before exec
            os.dup2(cmd_r, 3)
            os.dup2(res_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             "--disable-extensions", f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=fds)  # noqa: PLW1509 - dup2 onto fds 3/4 is what the pipe mode wants
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._id = 0
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.resize(width, height)

    def call(self, method: str, **params):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._res_r], [], [], left)[0]:
                raise TimeoutError(f"chromium did not answer {method} within {TIMEOUT:.0f} s")
            chunk = os.read(self._res_r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}…: {result['exceptionDetails']}")
        return result["result"].get("value")

    def resize(self, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + TIMEOUT
        ready = f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
        while not self.js(ready):
            if time.monotonic() > deadline:
                raise TimeoutError("the review page did not finish loading")
            time.sleep(0.05)
        self.js("Promise.all([...document.querySelectorAll('img[src]')].map(i => i.decode()))")

    def key(self, key: str, code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=code,
                      nativeVirtualKeyCode=code, **({"text": "\r"} if key == "Enter" and kind == "keyDown" else {}))

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", **params)["data"]))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._res_r)


# --------------------------------------------------------------------------- the document under review

W, H = 900, 1240
BLOCKS = [
    Block("header", "Northwind Instruments - Quarterly Report", "<p>Northwind Instruments - Quarterly Report</p>",
          [60, 24, 840, 58]),
    Block("heading", "Third Quarter", "<h1>Third Quarter</h1>", [60, 90, 620, 160], None, {"level": 1}),
    Block("paragraph", "Revenue grew 12% over the second quarter.", "<p>Revenue grew 12% over the second quarter.</p>",
          [60, 190, 840, 300]),
    Block("table", "Region Q2 Q3", "<table><tr><th>Region</th><th>Q2</th><th>Q3</th></tr>"
          "<tr><td>North</td><td>4.1</td><td>4.6</td></tr></table>", [60, 330, 840, 520]),
    Block("figure", "", '<div class="image"><img></div>', [60, 560, 560, 1000]),
    Block("caption", "Figure 1: revenue per quarter", "<p>Figure 1: revenue per quarter</p>", [60, 1010, 560, 1050]),
    # hostile markup that must stay inert (the parser sanitises; the review page sanitises again)
    Block("footnote", "see note", '<p onclick="alert(1)">see <a href="javascript:alert(2)">note</a>'
          '<img src="https://example.invalid/x.png" onerror="alert(3)"><script>alert(4)</script></p>',
          [600, 1100, 840, 1140]),
    Block("page_number", "1", "<p>1</p>", [830, 1190, 860, 1225]),  # near the corner
    # a formula: shown as MathML converted from its LaTeX (the LaTeX kept in an annotation)
    Block("formula", "R_n = R_0 (1 + r)^n", '<div class="formula"><div>R_n = R_0 (1 + r)^n</div></div>',
          [600, 600, 840, 660], None, {"latex": "R_n = R_0 (1 + r)^n"}),
    Block("other", "a block without a box"),
]


def _page_image() -> Image.Image:
    img = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=30)
    for b in BLOCKS:
        if not b.bbox_px:
            continue
        x0, y0, x1, y1 = b.bbox_px
        if b.type == "figure":
            for i, h in enumerate((180, 260, 330)):
                draw.rectangle([110 + i * 150, y1 - 20 - h, 210 + i * 150, y1 - 20], fill=(60, 100, 190))
        else:
            draw.text((x0 + 4, y0 + 4), b.text[:40], fill=(20, 20, 20), font=font)
    return img


def _document() -> Document:
    frame = Frame(W, H, W, H)
    ok = PageResult(PageInfo("scans/report page.png", 1, frame), blocks=BLOCKS, status="repaired",
                    warnings=["clipped box [830 1190 905 1225] to the 900x1240 image"])
    failed = PageResult(PageInfo("scans/report page.png", 2, frame), status=FAILED,
                        error="the answer was empty after 3 attempts")
    return Document("scans/report page.png", "qwen2.5-vl", "Qwen/Qwen2.5-VL-7B-Instruct", [ok, failed])


MEASURE = """(() => {
  const out = [];
  for (const box of document.querySelectorAll('.box')) {
    const img = box.parentElement.querySelector('img');
    const r = box.getBoundingClientRect(), i = img.getBoundingClientRect();
    const s = getComputedStyle(box);
    out.push({id: box.id, bbox: box.dataset.bbox.split(' ').map(Number), natural: [img.naturalWidth, img.naturalHeight],
              box: [r.left - i.left, r.top - i.top, r.right - i.left, r.bottom - i.top], img: [i.width, i.height],
              border: s.borderTopColor});
  }
  return out;
})()"""


def _check_boxes(measured: list[dict]) -> None:
    boxed = [b for b in BLOCKS if b.bbox_px]
    assert len(measured) == len(boxed)
    for m, block in zip(measured, boxed, strict=True):
        assert m["bbox"] == block.bbox_px
        assert m["natural"] == [W, H]
        scale = m["img"][0] / W
        assert abs(m["img"][1] - H * scale) < 1  # the image keeps its aspect ratio
        expected = [v * scale for v in block.bbox_px]
        assert all(abs(a - b) <= 1.0 for a, b in zip(m["box"], expected, strict=True)), (block.type, m, expected)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    root = tmp_path_factory.mktemp("review-browser")
    page = root / "report.review.html"
    page.write_text(render_review(_document(), [_page_image(), None]), encoding="utf-8")
    chrome = Chromium(root / "profile", 1400, 1000)
    try:
        chrome.open(page.as_uri())
        yield chrome, root
    finally:
        chrome.close()


def test_boxes_sit_on_their_blocks_at_any_width(browser):
    chrome, root = browser
    chrome.resize(1400, 1000)
    wide = chrome.js(MEASURE)
    _check_boxes(wide)
    from vlparse.export.overlays import colour_for

    r, g, b = colour_for("heading")
    assert wide[1]["border"] == f"rgb({r}, {g}, {b})"  # the type's colour
    chrome.screenshot(root / "review-wide.png")
    chrome.resize(700, 900)  # one column: the image is narrower, the boxes follow it
    narrow = chrome.js(MEASURE)
    _check_boxes(narrow)
    assert narrow[0]["img"][0] < wide[0]["img"][0]
    chrome.screenshot(root / "review-narrow.png")
    chrome.resize(1400, 1000)
    print(f"\nreview screenshots: {root / 'review-wide.png'} {root / 'review-narrow.png'}")


def test_hover_and_keyboard_focus_show_type_and_text_and_jump_to_the_block(browser):
    chrome, root = browser
    chrome.resize(1400, 1000)
    chrome.js("window.scrollTo(0, 0)")
    r = chrome.js("(() => { const b = document.querySelectorAll('.box')[2]; b.scrollIntoView({block: 'center'});"
                  " const r = b.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()")
    tip = "getComputedStyle(document.querySelectorAll('.box')[2].querySelector('.tip')).display"
    assert chrome.js(tip) == "none"
    chrome.call("Input.dispatchMouseEvent", type="mouseMoved", x=r[0] + r[2] / 2, y=r[1] + r[3] / 2)
    assert chrome.js(tip) == "block"
    text = chrome.js("document.querySelectorAll('.box')[2].querySelector('.tip').innerText")
    assert text.lower().startswith("paragraph 3") and "Revenue grew 12%" in text
    chrome.screenshot(root / "review-hover.png")
    chrome.call("Input.dispatchMouseEvent", type="mouseMoved", x=5, y=5)
    # keyboard: every box is a link in the tab order; focus shows the tip, Enter jumps to the block
    assert chrome.js("[...document.querySelectorAll('.box')].every(b => b.tabIndex === 0 && b.href)")
    chrome.js("document.querySelectorAll('.box')[1].focus()")
    assert chrome.js("getComputedStyle(document.activeElement.querySelector('.tip')).display") == "block"
    chrome.key("Enter", 13)
    assert chrome.js("location.hash") == "#p1-b2"
    assert chrome.js("document.querySelector('#p1-b2 .content').innerText.trim()") == "Third Quarter"
    chrome.js("history.replaceState(null, '', location.pathname)")


def test_status_warnings_legend_and_nothing_active(browser):
    chrome, root = browser
    visible = "(s) => { const e = document.querySelector(s); const r = e && e.getBoundingClientRect(); " \
              "return !!e && r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; }"
    for selector in ("#page-1 .status", "#page-1 details.warnings li", "#page-2 .status", "#page-2 .error",
                     ".legend .swatch", "#page-2 .noimage"):
        assert chrome.js(f"({visible})({json.dumps(selector)})"), selector
    assert chrome.js("document.querySelector('#page-2 .status').innerText") == "failed"
    chrome.js("document.querySelector('#page-2').scrollIntoView()")
    chrome.screenshot(root / "review-failed-page.png")
    assert "empty after 3 attempts" in chrome.js("document.querySelector('#page-2 .error').innerText")
    legend = chrome.js("[...document.querySelectorAll('.legend li')].map(li => li.innerText.trim().split(/\\s+/)[0])")
    assert legend == list(dict.fromkeys(b.type for b in BLOCKS))
    # inert: no script, no handler, no remote or javascript: URL survived, the CSP forbids the rest
    assert chrome.js("document.scripts.length") == 0
    assert chrome.js("document.querySelectorAll('[onclick],[onerror],[onload]').length") == 0
    assert chrome.js("[...document.querySelectorAll('[href],[src]')].every(e => "
                     "(e.getAttribute('href') || e.getAttribute('src')).match(/^(#|data:)/))")
    assert chrome.js("document.querySelector('meta[http-equiv]').content").startswith("default-src 'none'")


FORMULA = """(() => {
  const m = document.querySelector('li.block[data-type="formula"] .content math');
  if (!m) return null;
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const sub = m.querySelector('msub');
  const ann = m.querySelector('annotation');
  return {display: getComputedStyle(m).display, math: box(m), base: box(sub.children[0]), script: box(sub.children[1]),
          annotation: ann.textContent, annotationShown: ann.getClientRects().length > 0,
          fontSize: parseFloat(getComputedStyle(sub.children[1]).fontSize),
          baseFontSize: parseFloat(getComputedStyle(sub.children[0]).fontSize)};
})()"""


def test_a_formula_renders_as_mathml(browser):
    chrome, root = browser
    chrome.resize(1400, 1000)
    chrome.js("document.querySelector('li.block[data-type=\"formula\"]').scrollIntoView({block: 'center'})")
    f = chrome.js(FORMULA)
    assert f is not None, "no <math> in the formula's entry"
    assert f["display"] == "block math"  # laid out by the browser's MathML engine
    x0, y0, x1, y1 = f["math"]
    assert x1 - x0 > 20 and y1 - y0 > 5  # a real, non-empty rendered box
    # MathML layout, not text in a row: the subscript is smaller and sits lower than its base
    assert f["fontSize"] < f["baseFontSize"]
    assert f["script"][3] > f["base"][3] and f["script"][0] >= f["base"][2] - 0.5
    assert f["annotation"] == "R_n = R_0 (1 + r)^n" and not f["annotationShown"]  # the source, not displayed
    chrome.screenshot(root / "review-formula.png")
