"""#21.5 in the admin console (Chromium): an admin exports a contact's data and erases the
contact with the button, which asks first and wants the id typed; a wrong id erases
nothing. The retention page saves a policy and shows the dry run."""

from __future__ import annotations

import zipfile

from hub.models import Contact
from tests.web.conftest import ADMIN, AGENT, login, screenshot, seed_conversation


def test_admin_exports_then_erases_a_contact_after_confirming(live, context, artifacts_dir, tmp_path):
    hub = live.hub
    hub.add_connector("web", "api", secret="s3cret-api")
    contact, _conv = seed_conversation(hub, "web", "web:ivy-9", "Ivy Ingram")
    page = context.new_page()
    login(page, live, ADMIN)
    page.goto(f"{live.url}/admin/contacts?keep={contact}")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Export this contact's data").click()
    path = tmp_path / "ivy.zip"
    dl.value.save_as(path)
    with zipfile.ZipFile(path) as z:
        assert "Ivy Ingram" in z.read("contact.json").decode()
    # a wrong id: nothing erased
    page.once("dialog", lambda d: d.accept())
    page.get_by_label(f"Type {contact} to confirm").fill(str(contact + 1000))
    page.get_by_role("button", name="Erase contact…").click()
    page.wait_for_load_state()
    assert "Not erased" in page.content()
    # said beside the form itself, not only at the top of the page (#21 fresh eyes)
    alert = page.locator("#erase-error")
    assert alert.is_visible() and f"Type the contact id {contact} exactly" in alert.inner_text()
    assert hub.count(Contact, Contact.id == contact) == 1
    # dismissing the browser's question: nothing erased
    page.once("dialog", lambda d: d.dismiss())
    page.get_by_label(f"Type {contact} to confirm").fill(str(contact))
    page.get_by_role("button", name="Erase contact…").click()
    assert hub.count(Contact, Contact.id == contact) == 1
    messages: list[str] = []
    page.once("dialog", lambda d: (messages.append(d.message), d.accept()))
    page.get_by_role("button", name="Erase contact…").click()
    page.get_by_text(f"Contact {contact} erased").wait_for()
    assert "cannot be undone" in messages[0]
    assert hub.count(Contact, Contact.id == contact) == 0
    screenshot(page, artifacts_dir, "admin-contact-erased")


def test_retention_page_saves_a_policy_and_previews_it(live, context, artifacts_dir):
    hub = live.hub
    hub.add_connector("web", "api", secret="s3cret-api")
    page = context.new_page()
    login(page, live, ADMIN)
    page.goto(f"{live.url}/admin/retention")
    page.get_by_label("Connector").select_option("web")
    page.get_by_label("Keep (days)").fill("90")
    page.get_by_label("Then").select_option("anonymize")
    page.get_by_role("button", name="Save policy").click()
    page.get_by_text("web: anonymize after 90 days").first.wait_for()
    page.get_by_role("button", name="Dry run: count what the policies would change now").click()
    page.locator("#preview").wait_for()
    assert "anonymize" in page.locator("#preview").inner_text()
    screenshot(page, artifacts_dir, "admin-retention")
    # agents cannot reach it
    agent = context.browser.new_context().new_page() if context.browser else None
    if agent is not None:
        login(agent, live, AGENT)
        resp = agent.goto(f"{live.url}/admin/retention")
        assert resp is not None and resp.status == 403


def test_retention_console_shows_every_kind_in_the_dry_run_and_the_last_run_that_changed_something(hub):
    """#21.5 fresh eyes: the dry-run table had five columns of the eight kinds a policy touches,
    and an empty run hid what the policy last did."""
    import re

    from hub import retention
    from hub.web.admin import RETENTION_COLUMNS
    from tests.hub.test_retention import SECRET, seed
    from tests.web.conftest import add_users
    from tests.web.test_audit_web import login as client_login

    add_users(hub)
    hub.add_connector("web", "api", secret=SECRET)
    hub.add_connector("other", "api", secret=SECRET)
    seed(hub)
    with hub.rt.db.session() as s:
        retention.set_policy(s, "web", 30, "delete", actor="cli")
    admin = hub.app.test_client()
    client_login(admin, ADMIN)
    page = admin.get("/admin/retention").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    html = admin.post("/admin/retention", data={"csrf_token": token, "do": "preview"}).get_data(as_text=True)
    table = html[html.index('id="preview"'):]
    assert {k for k, _ in RETENTION_COLUMNS} == set(retention.COUNT_KEYS)
    dry = retention.run_all(hub.rt, dry_run=True)["web"]
    for kind, label in RETENTION_COLUMNS:
        assert f'<th scope="col" data-kind="{kind}">{label}</th>' in table, kind
        assert f'<td data-kind="{kind}">{dry[kind]}</td>' in table, kind
    assert dry["webhook_events"] == 0 and dry["subjects"] == 1

    retention.run_all(hub.rt)  # changes things
    retention.run_all(hub.rt)  # then finds nothing
    page = admin.get("/admin/retention").get_data(as_text=True)
    last_run = re.search(r'<td class="last-run">(.*?)</td>', page, re.S).group(1)
    last_change = re.search(r'<td class="last-change">(.*?)</td>', page, re.S).group(1)
    assert "nothing to do" in last_run
    assert "3 messages" in last_change and "1 conversations" in last_change and "1 subjects" in last_change


def test_an_open_conversation_of_an_erased_contact_goes_away_live(live, context, artifacts_dir):
    """#21 fresh eyes: an agent's open conversation kept showing a contact erased meanwhile
    until the page was reloaded. The live stream now names the conversations an erasure
    removed, and the pane says the conversation no longer exists (no reload)."""
    from hub import erasure

    hub = live.hub
    hub.add_connector("web", "api", secret="s3cret-api")
    contact, conv = seed_conversation(hub, "web", "web:una-3", "Una Umbridge")
    _other, other_conv = seed_conversation(hub, "web", "web:vic-4", "Vic Vance")
    page = context.new_page()
    login(page, live, AGENT)
    page.goto(f"{live.url}/inbox/c/{conv}")
    page.locator("#conversation").get_by_text("Una Umbridge").first.wait_for()
    erasure.erase(hub.rt, contact, "admin@example.com")
    gone = page.locator("#conversation-gone")
    gone.wait_for(timeout=15_000)
    assert f"#{conv} no longer exists" in gone.inner_text() and "erased" in gone.inner_text()
    assert page.locator("#conversation").count() == 0
    assert "Una Umbridge" not in page.content()
    screenshot(page, artifacts_dir, "inbox-erased-conversation-gone")
    assert page.url.endswith("/inbox") or "/inbox?" in page.url or page.url.endswith("/inbox/")
    # the list still works and the other customer's conversation opens
    page.goto(f"{live.url}/inbox/c/{other_conv}")
    page.locator("#conversation").get_by_text("Vic Vance").first.wait_for()
