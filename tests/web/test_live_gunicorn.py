"""Live updates in Chromium through the real web process (`omnihub web`, gunicorn), where each
stream is handed to the process's stream loop after its first event, across reconnects."""

from __future__ import annotations

import json

import httpx
import pytest
from werkzeug import Response

from hub import signing
from tests.support.hub import wait_until
from tests.web.conftest import AGENT, add_users, free_port, login

SECRET = "gunicorn-live-secret"
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body>
<script src="{hub}/widget.js" data-connector="site" data-title="Shop support" async></script></body></html>"""


class Served:
    """`omnihub web` on a free port with short stream lifetimes, plus a worker."""

    def __init__(self, hub, port: int) -> None:
        self.hub = hub
        self.url = f"http://127.0.0.1:{port}"
        add_users(hub)
        hub.start_worker()
        hub.start("web", "web", "--host", "127.0.0.1", "--port", str(port), env={"OMNIHUB_SSE_SECONDS": "3"})

        def up() -> bool:
            try:
                return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=60, interval=0.2, message="omnihub web to answer /healthz")


@pytest.fixture
def served(make_hub):
    port = free_port()
    hub = make_hub(public_url=f"http://127.0.0.1:{port}", web_workers=1, web_threads=4)
    s = Served(hub, port)
    yield s
    hub.stop_all()


def _reconnected(page, path: str) -> None:
    """Wait for EventSource to open the stream again (the previous response ended)."""
    page.wait_for_event("request", lambda r: path in r.url, timeout=20_000)


def _webhook(served, text: str, id: str, sender: str) -> None:
    body = json.dumps({"id": id, "from": {"id": sender, "name": sender.title()}, "text": text}).encode()
    r = httpx.post(f"{served.url}/webhooks/web/messages", content=body, timeout=10,
                   headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert r.status_code == 200, r.text


def test_inbox_gets_live_updates_through_the_stream_loop_across_reconnects(served, context):
    served.hub.add_connector("web", "api", secret=SECRET)
    page = context.new_page()
    login(page, served, AGENT)
    _webhook(served, "first question", "g-1", "carla")
    page.locator(".convs li[data-id]").filter(has_text="Carla").wait_for()

    # the stream ends after OMNIHUB_SSE_SECONDS and EventSource reconnects; still live after
    _reconnected(page, "/inbox/events")
    _webhook(served, "second question", "g-2", "dora")
    page.locator(".convs li[data-id]").filter(has_text="Dora").wait_for()


def test_widget_gets_the_agents_replies_through_the_stream_loop_across_reconnects(served, context, httpserver):
    hub = served.hub
    httpserver.expect_request("/").respond_with_response(Response(PAGE.format(hub=served.url), content_type="text/html"))
    hub.add_connector("site", "api", secret="site-secret-not-in-browser", widget=True,
                      widget_origins=[httpserver.url_for("/").rstrip("/")])
    page = context.new_page()
    page.goto(httpserver.url_for("/"))
    page.get_by_role("button", name="Shop support").click()
    chat = page.locator("#omnihub-chat")
    chat.get_by_label("Your message").fill("where is my order?")
    chat.get_by_role("button", name="Send").click()
    convs = wait_until(lambda: hub.api("GET", "/api/v1/conversations?connector=site").get_json()["items"],
                       message="the widget conversation")
    conv = convs[0]["id"]

    r = hub.api("POST", f"/api/v1/conversations/{conv}/replies", json={"text": "on its way"})
    assert r.status_code == 202
    chat.locator(".agent").filter(has_text="on its way").wait_for()

    _reconnected(page, "/widget/site/stream")
    r = hub.api("POST", f"/api/v1/conversations/{conv}/replies", json={"text": "arrives tomorrow"})
    assert r.status_code == 202
    chat.locator(".agent").filter(has_text="arrives tomorrow").wait_for()
    assert chat.locator(".visitor").count() == 1


def test_two_hubs_on_one_machine_each_have_their_own_gunicorn_control_socket(make_hub, tmp_path):
    """#21 fresh eyes: gunicorn's control socket was at one path per user, so two `omnihub web`
    on one machine shared it (gunicornc reached whichever bound last, and the first to stop
    removed it for the other). Now each instance's is VAR_DIR/gunicorn.ctl."""
    import json as _json
    import stat
    import subprocess
    import sys
    from pathlib import Path

    shared = tmp_path / "xdg"  # one user's runtime dir, as on a real machine
    shared.mkdir(mode=0o700)
    hubs = []
    for _n in range(2):
        port = free_port()
        hub = make_hub(public_url=f"http://127.0.0.1:{port}", web_workers=1, web_threads=2)
        hub.start("web", "web", "--host", "127.0.0.1", "--port", str(port), env={"XDG_RUNTIME_DIR": str(shared)})
        hubs.append((hub, f"http://127.0.0.1:{port}"))
    for _hub, url in hubs:
        wait_until(lambda url=url: _healthy(url), timeout=60, interval=0.2, message=f"{url}/healthz")
    gunicornc = Path(sys.executable).with_name("gunicornc")

    def workers_of(sock: Path) -> set[int]:
        out = subprocess.run([str(gunicornc), "-s", str(sock), "-c", "show workers", "-j"], capture_output=True, text=True,
                             timeout=20)
        assert out.returncode == 0, out.stdout + out.stderr
        return {int(w["pid"]) for w in _json.loads(out.stdout)["workers"]}

    socks = []
    for hub, _url in hubs:
        sock = Path(hub.settings.var_dir) / "gunicorn.ctl"
        wait_until(sock.exists, timeout=30, message=f"{sock}")
        assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
        master = hub.procs["web"].pid
        # the socket answers for this instance: its workers are this master's children
        for pid in workers_of(sock):
            assert int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == master
        socks.append(sock)
    assert socks[0] != socks[1] and not (shared / "gunicorn.ctl").exists()
    hubs[0][0].stop_all(grace=10)  # the first one stops: the second's socket stays and still answers
    assert socks[1].exists() and workers_of(socks[1])


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
