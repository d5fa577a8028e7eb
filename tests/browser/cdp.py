"""A small Chrome DevTools Protocol client for the browser tests: headless Chromium, one page.

Why not Playwright: it needs its own driver (Node) and pins browser builds; the Debian
``chromium`` package plus ``websocket-client`` is all this needs. Chromium is started with a
fresh ``--user-data-dir`` and ``--remote-debugging-port=0``; the port it picked is read from
``DevToolsActivePort`` in that directory, so parallel test runs never collide.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    "--no-default-browser-check", "--disable-features=Translate,MediaRouter,OptimizationHints",
)


def find_chromium() -> str | None:
    env = os.environ.get("LITMON_TEST_CHROMIUM")
    for path in ((env,) if env else ()) + CHROMIUM_CANDIDATES:
        if path and os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


@dataclass
class PageLog:
    console: list[dict[str, Any]] = field(default_factory=list)  # Runtime.consoleAPICalled
    exceptions: list[dict[str, Any]] = field(default_factory=list)  # Runtime.exceptionThrown
    log: list[dict[str, Any]] = field(default_factory=list)  # Log.entryAdded (CSP, network...)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    failed: list[dict[str, Any]] = field(default_factory=list)  # Network.loadingFailed
    dialogs: list[str] = field(default_factory=list)  # alert()/confirm() that opened

    def errors(self) -> list[str]:
        out = [f"console.{c.get('type')}: {c.get('args')}" for c in self.console
               if c.get("type") in ("error", "assert", "warning")]
        out += [f"exception: {e.get('exceptionDetails', {}).get('text')}" for e in self.exceptions]
        out += [f"log {e['entry'].get('level')}: {e['entry'].get('text')} {e['entry'].get('url', '')}"
                for e in self.log if e["entry"].get("level") in ("error", "warning")]
        out += [f"dialog: {d}" for d in self.dialogs]
        return out


class Browser:
    def __init__(self, executable: str) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="litmon-chromium-"))
        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
             "--remote-allow-origins=*", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not start (no DevToolsActivePort)")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=30,
                                              suppress_origin=True)
        self._id = 0
        self._events: list[dict[str, Any]] = []

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            try:
                self.send("Browser.close")
            except Exception:  # noqa: BLE001 - the browser may already be gone
                pass
            ws.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- protocol ----------------------------------------------------------------------------
    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            reply = self._recv(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def _recv(self, deadline: float) -> dict[str, Any]:
        self.ws.settimeout(max(0.05, deadline - time.monotonic()))
        if time.monotonic() > deadline:
            raise TimeoutError("no reply from chromium")
        return json.loads(self.ws.recv())

    def wait_for(self, method: str, session: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for i, event in enumerate(self._events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self._events.pop(i)
        while True:
            event = self._recv(deadline)
            if event.get("method") == method and event.get("sessionId") == session:
                return event
            self._events.append(event)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                self._events.append(self._recv(deadline))
        except (websocket.WebSocketTimeoutException, TimeoutError):
            pass

    # -- pages -------------------------------------------------------------------------------
    def open(self, url: str, width: int, height: int = 900, *, mobile: bool = False) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
                  session=session)
        self._events.clear()
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session)
        page = Page(self, session, target)
        self.drain(0.5)  # late console messages, CSP reports
        return page


class Page:
    def __init__(self, browser: Browser, session: str, target: str) -> None:
        self.browser, self.session, self.target = browser, session, target

    @property
    def log(self) -> PageLog:
        log = PageLog()
        for event in self.browser._events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                log.console.append({"type": params.get("type"),
                                    "args": [a.get("value", a.get("description")) for a in params.get("args", [])]})
            elif method == "Runtime.exceptionThrown":
                log.exceptions.append(params)
            elif method == "Log.entryAdded":
                log.log.append(params)
            elif method == "Network.requestWillBeSent":
                log.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                log.failed.append(params)
            elif method == "Page.javascriptDialogOpening":
                log.dialogs.append(params.get("message", ""))
        return log

    def evaluate(self, expression: str) -> Any:
        """Evaluated by DevTools itself: the page's CSP forbids the page's own scripts, not this."""
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                   session=self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, top: float = 0, height: float | None = None) -> Path:
        """The page from ``top`` down ``height`` CSS pixels (default: to the end, at most 12,000)."""
        size = self.browser.send("Page.getLayoutMetrics", session=self.session)["cssContentSize"]
        height = min(height or size["height"] - top, size["height"] - top, 12000)
        params: dict[str, Any] = {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": top, "width": size["width"], "height": height, "scale": 1},
        }
        data = self.browser.send("Page.captureScreenshot", params, session=self.session, timeout=60)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def pdf(self, path: Path) -> Path:
        data = self.browser.send("Page.printToPDF", {"printBackground": True}, session=self.session,
                                 timeout=60)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})
