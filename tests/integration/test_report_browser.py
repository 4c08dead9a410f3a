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

from harness.report import _page as report_page
from harness.report import write_index, write_report
from harness.report._assets import asset
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

    def open(self, path: Path) -> None:
        """Load ``path`` and wait until its script says it has rendered (or the timeout)."""
        self.call("Emulation.setDeviceMetricsOverride", width=1400, height=2000, deviceScaleFactor=1, mobile=False)
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
        " badBars: document.querySelectorAll('#linear-body .lin-op.bad').length,"
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
