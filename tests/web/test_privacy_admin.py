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
