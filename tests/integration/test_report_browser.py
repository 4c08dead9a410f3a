"""The HTML reports, opened in a real headless Chromium as a person would.

Chromium is driven over the DevTools protocol with a tiny stdlib WebSocket
client (no extra package), so the test sees every uncaught exception, every
``console.error`` and every browser-logged error (a CSP violation, a failed
load), and would see an ``alert()`` dialog. Needs Debian's ``chromium``
(``.ci/run`` installs it); skips with a message if it is not on PATH.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.core import EXIT_INVALID
from harness.report import _page as report_page
from harness.report import write_index, write_report
from harness.report._assets import asset
from harness.run import main
from tests.register_run import make_register_run
from tests.sample_run import HOSTILE, make_sample_run

REPO = Path(__file__).resolve().parents[2]
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="headless Chromium not found on PATH: install Debian's `chromium` package (.ci/run does)"
)


class WebSocket:
    """Just enough RFC 6455 for the DevTools protocol: text frames, masked sends, ping/pong."""

    def __init__(self, url: str, timeout: float) -> None:
        assert url.startswith("ws://")
        hostport, _, path = url[len("ws://") :].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            response += chunk
        if b" 101 " not in response.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"DevTools refused the WebSocket: {response[:200]!r}")
        self.buffer = response.split(b"\r\n\r\n", 1)[1]

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    def recv(self) -> str:
        message = b""
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", self._read(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", self._read(8))
            payload = self._read(n)
            if opcode == 0x9:  # ping
                self._send_frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            message += payload
            if b0 & 0x80:
                return message.decode()

    def close(self) -> None:
        self.sock.close()


class Browser:
    """One headless Chromium page. Collects every error the page causes."""

    def __init__(self, binary: str, profile: Path, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "--window-size=1400,2000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = WebSocket(page["webSocketDebuggerUrl"], timeout)
        self.next_id = 0
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.events: list[dict[str, Any]] = []
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable")

    def _on_event(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        self.events.append(msg)
        if method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            self.errors.append("uncaught: " + str(d.get("exception", {}).get("description") or d.get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(
                "console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append("log: " + params["entry"].get("text", ""))
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(params.get("message", ""))
            self.ws.send(json.dumps({"id": -1, "method": "Page.handleJavaScriptDialog", "params": {"accept": True}}))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        call_id = self.next_id
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == call_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            if "method" in msg:
                self._on_event(msg)
        raise TimeoutError(method)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, path: Path, width: int = 1400, height: int = 2000) -> None:
        """Load ``path`` in a ``width`` x ``height`` viewport and wait until its script says it has rendered."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
        self.call("Page.navigate", url=path.resolve().as_uri())
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            state = self.evaluate(
                "document.readyState + ' ' +"
                " ((document.documentElement && document.documentElement.dataset.report) || '')"
            )
            if state == "complete rendered":
                self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                return
            if state.startswith("complete") and self.errors:
                return
            time.sleep(0.1)
        raise AssertionError(f"{path} did not finish rendering in {self.timeout} s; errors: {self.errors}")

    def screenshot(self, out: Path) -> None:
        height = min(int(self.evaluate("document.documentElement.scrollHeight")), 16000)
        self.call("Emulation.setDeviceMetricsOverride", width=1400, height=height, deviceScaleFactor=1, mobile=False)
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        out.write_bytes(base64.b64decode(shot["data"]))

    def screenshot_viewport(self, out: Path) -> None:
        """What a person sees right now: the viewport only, as it is scrolled."""
        shot = self.call("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert BROWSER is not None
    with tempfile.TemporaryDirectory(prefix="report-chromium-", ignore_cleanup_errors=True) as profile:
        b = Browser(BROWSER, Path(profile))
        try:
            yield b
        finally:
            b.close()


def _assert_clean(browser: Browser) -> None:
    assert browser.errors == [], f"the page logged errors: {browser.errors}"
    assert browser.dialogs == [], f"the page opened a dialog (script injection?): {browser.dialogs}"


@needs_browser
def test_a_hostile_synthetic_run_renders_every_section_without_errors(tmp_path: Path, browser: Browser) -> None:
    run = make_sample_run(tmp_path / "run", ops=3000, hostile=True, locks=True, counter=True)
    page = write_report(run)
    browser.open(page)
    _assert_clean(browser)
    drawn = browser.evaluate(
        "({canvases: document.querySelectorAll('#perf-charts canvas:not(.icon)').length,"
        " timelineOps: document.querySelectorAll('#timeline-body .op').length,"
        " linearBars: document.querySelectorAll('#linear-body .lin-op').length,"
        " badBars: document.querySelectorAll('#linear-body .lin-failure > .lin-frame .lin-op.bad').length,"
        " holds: document.querySelectorAll('#locks-body .hold').length,"
        " overlaps: document.querySelectorAll('#locks-body .overlap').length,"
        " clusterRows: document.querySelectorAll('#cluster-body .lane-label').length,"
        " scripts: document.scripts.length})"
    )
    assert drawn["canvases"] == 2
    assert 0 < drawn["timelineOps"] <= 300
    assert drawn["linearBars"] >= 2 and drawn["badBars"] == 1
    assert drawn["holds"] > 10 and drawn["overlaps"] == 1
    assert drawn["clusterRows"] == 4  # leader + n1..n3
    assert drawn["scripts"] == 2  # the JSON block and the page's own script: nothing injected
    # the hostile strings are on the page as text
    assert browser.evaluate(f"document.body.innerText.includes({json.dumps(HOSTILE)})")
    browser.screenshot(run / "report.png")
    assert (run / "report.png").stat().st_size > 10_000


@needs_browser
def test_history_strings_are_shown_as_text_in_the_timeline(tmp_path: Path, browser: Browser) -> None:
    run = make_sample_run(tmp_path / "run", ops=200, hostile=True)
    browser.open(write_report(run))
    _assert_clean(browser)
    titles = browser.evaluate(
        "Array.from(document.querySelectorAll('#timeline-body .op')).map(e => e.title).join('\\n')"
    )
    assert HOSTILE in titles
    assert browser.evaluate("document.querySelectorAll('#timeline-body script, #linear-body script').length") == 0


@needs_browser
@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # an uncaught exception at the top level of the script
        ("end", "uncaught"),
        # an exception inside one section, caught, shown on the page and logged
        ("timeline", "console.error"),
    ],
)
def test_a_broken_script_is_caught(
    tmp_path: Path, browser: Browser, monkeypatch: pytest.MonkeyPatch, where: str, expected: str
) -> None:
    original = asset("report.js")
    if where == "end":
        script = original.replace("document.documentElement.setAttribute('data-report', 'rendered');", "null.boom;")
    else:
        script = original.replace("function renderTimeline() {", "function renderTimeline() { undefinedFunction();")
    assert script != original
    monkeypatch.setattr(report_page, "asset", lambda name: script if name == "report.js" else asset(name))
    run = make_sample_run(tmp_path / "run", ops=100)
    browser.open(write_report(run))
    assert any(e.startswith(expected) for e in browser.errors), browser.errors


@needs_browser
def test_an_injected_script_is_blocked_and_caught(tmp_path: Path, browser: Browser) -> None:
    run = make_sample_run(tmp_path / "run", ops=50)
    page = write_report(run)
    page.write_text(page.read_text().replace("</main>", "<script>alert(1)</script></main>"))
    browser.open(page)
    assert browser.dialogs == []  # the policy stopped it...
    assert any("Content Security Policy" in e for e in browser.errors), browser.errors  # ...and said so


@needs_browser
def test_a_crashed_run_still_renders_and_says_what_is_missing(tmp_path: Path, browser: Browser) -> None:
    run = make_sample_run(tmp_path / "run", ops=300)
    (run / "results.json").unlink()
    history = (run / "history.jsonl").read_bytes()
    (run / "history.jsonl").write_bytes(history[: len(history) // 2 + 7])  # a torn last line
    browser.open(write_report(run))
    _assert_clean(browser)
    text = browser.evaluate("document.querySelector('#verdict').innerText")
    assert "results.json is missing" in text
    assert "could not be read" in text


@needs_browser
def test_the_index_lists_runs_and_filters_them(tmp_path: Path, browser: Browser) -> None:
    make_sample_run(tmp_path / "register-a" / "20250101T030000", ops=50)
    valid = make_sample_run(tmp_path / "register-b" / "20250102T030000", ops=50)
    results = json.loads((valid / "results.json").read_text())
    results["valid"] = True
    (valid / "results.json").write_text(json.dumps(results))
    write_report(valid)
    browser.open(write_index(tmp_path))
    _assert_clean(browser)
    visible = "Array.from(document.querySelectorAll('#runs tbody tr')).filter(r => !r.hidden).length"
    assert browser.evaluate(visible) == 2
    browser.evaluate(
        "(() => { const s = document.getElementById('filter-verdict'); s.value = 'invalid';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    assert browser.evaluate(visible) == 1
    assert "register-a" in browser.evaluate("document.querySelector('#runs tbody tr:not([hidden])').innerText")


# --- the failure view (issue 13, item 5) ----------------------------------------------------------

#: Where the failure-view test leaves its screenshot, for a person to look at.
FAILURE_VIEW_PNG = Path(tempfile.gettempdir()) / "etcd-harness-failure-view.png"

_GEOMETRY = """(() => {
  const box = e => { if (!e) return null; const r = e.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const failure = document.querySelector('#linear-body .lin-failure');
  const frame = failure.querySelector(':scope > .lin-frame');
  const scroller = frame.querySelector('.lin-scroll');
  return {vw: innerWidth, vh: innerHeight, scrollY: scrollY,
    bad: box(frame.querySelector('.lin-op.bad rect')), scroller: box(scroller), scrollLeft: scroller.scrollLeft,
    labels: box(frame.querySelector('.lin-labels')),
    laneLabels: Array.from(frame.querySelectorAll('.lin-labels text')).map(t => t.textContent),
    window: box(failure.querySelector('.lin-small.window .lin-svg')),
    windowBad: failure.querySelectorAll('.lin-small.window .lin-op.bad').length,
    minimal: box(failure.querySelector('.lin-small.minimal .lin-svg')),
    minimalOps: failure.querySelectorAll('.lin-small.minimal .lin-op').length,
    minimalBad: failure.querySelectorAll('.lin-small.minimal .lin-op.bad').length,
    captions: Array.from(failure.querySelectorAll('.lin-small .caption')).map(p => p.textContent),
    faultBars: frame.querySelectorAll('.ann-fault').length, leaderBars: frame.querySelectorAll('.ann-leader').length};
})()"""


def _inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (inner["left"] >= outer["left"] - 1 and inner["right"] <= outer["right"] + 1
            and inner["top"] >= outer["top"] - 1 and inner["bottom"] <= outer["bottom"] + 1)


@needs_browser
def test_the_failure_view_opens_on_the_failing_op_with_its_window_and_reproducer(
    tmp_path: Path, browser: Browser
) -> None:
    """A real failure (the real checkers on a register history with one stale read, deep into a key's
    history): the diagram opens scrolled to the failing op, the jump link brings the op, the window and
    the minimal reproducer onto the first screen, lane labels stay put, hovering shows the whole op."""
    run = make_register_run(tmp_path / "results" / "register-partition" / "20250101T030000")
    assert main(["check", "--run", str(run)]) == EXIT_INVALID
    browser.open(run / "report.html", width=1400, height=900)
    _assert_clean(browser)
    g = browser.evaluate(_GEOMETRY)
    # Opened on the failure: the failing op is within its diagram's visible part, far from the key's start.
    assert g["scrollLeft"] > 1000, g
    viewport = {"left": 0, "top": 0, "right": g["vw"], "bottom": g["vh"]}
    assert _inside(g["bad"], {**g["scroller"], "left": g["labels"]["right"]}), g
    assert g["laneLabels"][:2] == ["faults", "leader"] and g["faultBars"] > 0 and g["leaderBars"] > 0
    assert g["labels"]["left"] == g["scroller"]["left"] + 1  # the lane labels stay while the bars scroll
    # The jump link: the failing op, the window and the reproducer, on one screen.
    browser.evaluate("document.querySelector('header a.jump-failure').click()")
    browser.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    g = browser.evaluate(_GEOMETRY)
    assert g["scrollY"] > 0
    for part in ("bad", "window", "minimal"):
        assert _inside(g[part], viewport), (part, g)
    assert g["windowBad"] == 1 and g["minimalBad"] == 1 and 1 <= g["minimalOps"] <= 4, g
    assert "starts from state" in g["captions"][0] and " of 705 ops" in g["captions"][1], g["captions"]
    browser.screenshot_viewport(FAILURE_VIEW_PNG)
    # Hovering an op shows all of it, however short its bar's label.
    tip = browser.evaluate(
        "(() => { const bar = document.querySelector('#linear-body .lin-failure > .lin-frame .lin-op.bad');"
        " bar.dispatchEvent(new MouseEvent('mouseenter'));"
        " const t = bar.closest('.lin-frame').querySelector('.lin-tip'); return t.hidden ? '' : t.textContent; })()"
    )
    assert tip.startswith("op ") and "cannot be placed: read" in tip and "invoked" in tip, tip
    # The failure time is marked on the time charts.
    assert browser.evaluate("document.querySelectorAll('#perf-charts .mark-key').length") == 1
    assert browser.evaluate("document.querySelectorAll('#cluster-body .fail-mark').length") == 1
    _assert_clean(browser)


# --- a real run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 15 s register run with partitions on a real 3-node cluster, by the real runner."""
    results_dir = tmp_path_factory.mktemp("results")
    command = [
        sys.executable,
        "-m",
        "harness",
        "test",
        "--workload",
        "register",
        "--nemesis",
        "partition",
        "--nodes",
        "3",
        "--time-limit",
        "15",
        "--results-dir",
        str(results_dir),
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    latest = results_dir / "latest"
    if not (latest / "history.jsonl").exists():
        pytest.fail(f"the run left no history (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return latest.resolve()


@pytest.mark.docker
@pytest.mark.slow
@needs_browser
def test_the_report_of_a_real_run_renders_without_errors(real_run: Path, browser: Browser) -> None:
    page = write_report(real_run)
    browser.open(page)
    _assert_clean(browser)
    assert browser.evaluate("document.querySelectorAll('#timeline-body .op').length") > 0
    assert browser.evaluate("document.querySelectorAll('#verdict .badge').length") >= 1
    assert page.stat().st_size <= 2_000_000
    browser.screenshot(real_run / "report.png")
    index = write_index(real_run.parent.parent)
    browser.open(index)
    _assert_clean(browser)
