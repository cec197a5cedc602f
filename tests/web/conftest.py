"""Browser tests: the hub served by a real HTTP server in a thread, driven by Debian's chromium."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from pathlib import Path

import pytest

from tests.support.components import require

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
ADMIN = ("admin@example.com", "correct horse battery")
AGENT = ("alan@example.com", "staple battery horse")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "Playwright", "pip install playwright (never `playwright install`)")
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    require(bool(exe), "Chromium", "apt-get install -y --no-install-recommends chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


_HASHES: dict[str, str] = {}


def add_users(hub) -> None:
    """The admin and the agent (argon2 hashes computed once per session: hashing is slow on purpose)."""
    from hub.auth import hash_password
    from hub.models import User

    with hub.rt.db.session() as s:
        for (email, password), role, name in ((ADMIN, "admin", "Ada Admin"), (AGENT, "agent", "Alan Agent")):
            if password not in _HASHES:
                _HASHES[password] = hash_password(password)
            s.add(User(email=email, role=role, name=name, password_hash=_HASHES[password]))


class LiveHub:
    """A Hub whose Flask app is served over real HTTP on 127.0.0.1."""

    def __init__(self, hub, port: int) -> None:
        from werkzeug.serving import make_server

        self.hub = hub
        self.url = f"http://127.0.0.1:{port}"
        hub.app.config["OMNIHUB_SSE_SECONDS"] = 8
        self.server = make_server("127.0.0.1", port, hub.app, threaded=True)
        # shutdown() waits for the loop's next poll: 50 ms instead of the default 500
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        add_users(hub)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live_settings() -> dict:
    """Settings of the ``live`` hub besides its URL (a module overrides this fixture)."""
    return {}


@pytest.fixture
def live(make_hub, live_settings):
    port = free_port()
    hub = make_hub(public_url=f"http://127.0.0.1:{port}", **live_settings)
    lh = LiveHub(hub, port)
    yield lh
    lh.stop()


@pytest.fixture
def context(browser, artifacts_dir):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def login(page, live: LiveHub, who=AGENT) -> None:
    page.goto(live.url + "/login")
    page.get_by_label("Email").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r".*/inbox/?$"))


def screenshot(page, artifacts_dir: Path, name: str) -> None:
    """Save to test-artifacts/; with OMNIHUB_UPDATE_SCREENSHOTS=1 also refresh the README's
    copy in docs/screenshots/ (so an ordinary test run never changes tracked files)."""
    path = artifacts_dir / f"{name}.png"
    page.evaluate("() => { const t = document.getElementById('toast'); if (t) t.className = ''; }")
    page.wait_for_timeout(250)  # the toast's fade-out
    page.screenshot(path=str(path))
    if os.environ.get("OMNIHUB_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / f"{name}.png")


def seed_conversation(hub, connector: str, address: str, name: str, subject: str = "") -> tuple[int, int]:
    """A contact, identity and conversation written straight to the database: (contact id, conversation id)."""
    from hub.models import Connector, Contact, Conversation, Identity

    with hub.rt.db.session() as s:
        conn = s.query(Connector).filter_by(name=connector).one()
        c = Contact(name=name)
        s.add(c)
        s.flush()
        i = Identity(contact_id=c.id, medium=conn.kind, address=address, display_name=name)
        s.add(i)
        s.flush()
        conv = Conversation(connector_id=conn.id, contact_id=c.id, identity_id=i.id, thread_key=address,
                            token=address.replace(":", "-"), subject=subject or f"from {name}")
        s.add(conv)
        s.flush()
        return c.id, conv.id


UNLABELLED = """(hostId) => {
  const root = hostId ? document.getElementById(hostId).shadowRoot : document;
  return Array.from(root.querySelectorAll('input, select, textarea, button'))
    .filter(el => el.type !== 'hidden')
    .filter(el => {
      const name = (el.getAttribute('aria-label') || '').trim()
        || (el.getAttribute('aria-labelledby') || '').split(' ').map(id => (root.getElementById(id) || {}).textContent || '').join('').trim()
        || Array.from(el.labels || []).map(l => l.textContent).join('').trim()
        || (el.tagName === 'BUTTON' ? el.textContent.trim() : '');
      return !name;
    })
    .map(el => el.outerHTML.slice(0, 120));
}"""


def assert_labelled(page, shadow_host: str | None = None) -> None:
    """Every form control on the page (or in a shadow root) has an accessible name."""
    assert page.evaluate(UNLABELLED, shadow_host) == []
