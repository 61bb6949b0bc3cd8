"""A minimal Chrome DevTools Protocol driver: headless Chromium, pages, ``Runtime.evaluate``.

Why not Playwright or Selenium: the test needs only "open a page, read a JavaScript value, see
the console", and the machine already has Debian's ``chromium``. Talking CDP over one websocket
with aiohttp (already a dependency) keeps the browser test free of extra Python packages and of
browser downloads.

Chromium is started in a new session (its own process group) so that :meth:`Browser.close` can
end it *and* every helper process it forked (zygote, renderers, GPU/utility processes) by that
group id; its profile lives in a fresh temporary directory that is removed afterwards. The
DevTools port is chosen by Chromium (``--remote-debugging-port=0``) and read back from the
``DevToolsActivePort`` file, so parallel test runs never collide on a port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

PR_SET_PDEATHSIG = 1  # prctl(2)

# Root in a container needs --no-sandbox. The network-related switches stop Chromium from
# phoning home (component updates, sync, field trials): on a closed network those connections
# are refused and, without the switches, can disturb the browser. --disable-quic keeps every
# fetch on plain HTTP/1.1 over TCP, which is all the test servers speak.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    # A backgrounded/occluded headless tab would otherwise get its timers and media throttled.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
)


class CDPError(RuntimeError):
    """A DevTools command failed, the browser went away, or page JavaScript threw."""


class Page:
    """One tab, attached through a flattened CDP session; collects console output and exceptions."""

    def __init__(self, browser: Browser, target_id: str, session_id: str) -> None:
        self.browser = browser
        self.target_id = target_id
        self.session_id = session_id
        self.console: list[str] = []
        """Console messages and uncaught exceptions, oldest first (for failure messages)."""

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, params, session_id=self.session_id)

    async def navigate(self, url: str) -> None:
        result = await self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise CDPError(f"navigation to {url} failed: {result['errorText']}")

    async def evaluate(self, expression: str) -> Any:
        """Value of a JavaScript expression (awaited if it is a promise), returned by value."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            raise CDPError(f"{expression!r} threw: {text}")
        return result.get("result", {}).get("value")

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append(f"console.{params.get('type')}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.console.append(f"exception: {text}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.console.append(f"log.{entry.get('level')}: {entry.get('text')} {entry.get('url', '')}".rstrip())
        del self.console[:-200]


class Browser:
    """Headless Chromium driven over its browser-level DevTools websocket."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        profile: Path,
        ws: aiohttp.ClientWebSocketResponse,
        session: aiohttp.ClientSession,
    ) -> None:
        self.proc = proc
        self.profile = profile
        self._ws = ws
        self._http = session
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def launch(
        cls, binary: str = "chromium", *, extra_flags: Sequence[str] = (), timeout: float = 30.0
    ) -> Browser:
        """Start Chromium and connect to it; on any failure nothing is left running."""
        path = shutil.which(binary)
        if path is None:
            raise CDPError(f"{binary} not found on PATH (scripts/system-deps.sh installs Debian's chromium)")
        profile = Path(tempfile.mkdtemp(prefix="sidecar-chromium-"))
        stderr = (profile / "stderr.log").open("wb")
        proc = subprocess.Popen(
            [
                path,
                *CHROMIUM_FLAGS,
                *extra_flags,
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group: close() kills every child too
            preexec_fn=_die_with_parent,
        )
        stderr.close()
        session = aiohttp.ClientSession()
        try:
            ws_path = await cls._wait_for_port_file(proc, profile, timeout)
            ws = await session.ws_connect(f"ws://127.0.0.1{ws_path}", max_msg_size=0, heartbeat=None)
        except BaseException:
            await session.close()
            _kill_group(proc)
            shutil.rmtree(profile, ignore_errors=True)
            raise
        return cls(proc, profile, ws, session)

    @staticmethod
    async def _wait_for_port_file(proc: subprocess.Popen[bytes], profile: Path, timeout: float) -> str:
        """``:port/devtools/browser/<id>`` once Chromium has written ``DevToolsActivePort``."""
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise CDPError(f"chromium exited with {proc.returncode}: {_tail(profile / 'stderr.log')}")
            with contextlib.suppress(OSError):
                lines = port_file.read_text().split()
                if len(lines) >= 2:
                    return f":{int(lines[0])}{lines[1]}"
            await asyncio.sleep(0.05)
        raise CDPError(f"chromium wrote no DevToolsActivePort within {timeout:g}s: {_tail(profile / 'stderr.log')}")

    def stderr_tail(self, chars: int = 3000) -> str:
        return _tail(self.profile / "stderr.log", chars)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, session_id: str | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        if self._reader.done():
            raise CDPError(f"browser connection closed; cannot send {method}")
        msg_id = next(self._ids)
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        try:
            await self._ws.send_json(message)
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise CDPError(f"{method}: no answer within {timeout:g}s") from None
        finally:
            self._pending.pop(msg_id, None)

    async def _read(self) -> None:
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if "id" in data:
                    future = self._pending.get(data["id"])
                    if future is not None and not future.done():
                        if "error" in data:
                            future.set_exception(CDPError(f"CDP error: {data['error']}"))
                        else:
                            future.set_result(data.get("result", {}))
                elif (page := self._pages.get(data.get("sessionId", ""))) is not None:
                    page._event(data.get("method", ""), data.get("params", {}))
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(CDPError("browser connection closed"))

    async def new_page(self, url: str) -> Page:
        """A new window with console capture on, navigated to ``url``.

        A window, not a tab: in one window only the front tab is visible, and Chromium suspends
        media in hidden tabs, so a second player tab would never load a fragment.
        """
        target = await self.send("Target.createTarget", {"url": "about:blank", "newWindow": True})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, target["targetId"], attached["sessionId"])
        self._pages[page.session_id] = page
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            await page.send(domain)
        await page.navigate(url)
        return page

    async def close(self) -> None:
        """Ask Chromium to quit, then kill its whole process group and delete the profile."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send("Browser.close", timeout=5.0), 5.0)
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader
        with contextlib.suppress(Exception):
            await self._ws.close()
        await self._http.close()
        await asyncio.to_thread(_kill_group, self.proc)
        shutil.rmtree(self.profile, ignore_errors=True)


def _die_with_parent() -> None:
    """In the forked child, before exec: SIGKILL Chromium if the test process itself dies
    (a killed pytest must not leave a browser running; its helpers exit with it)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group Chromium leads, SIGKILL it after a grace period, reap the leader."""
    pgid = proc.pid  # start_new_session=True: the leader's pid is the group id
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        if not _group_alive(pgid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no stderr log)"
