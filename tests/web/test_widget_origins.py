"""A site the widget refuses is visible to the admin: the connector page lists the allowed
origins and the recently refused ones (bounded, well-formed only), with the fix."""

from __future__ import annotations

import json

from tests.security.test_secret_origin import _admin_client


def _post(client, origin: str):
    body = {"visitor": "v" * 24, "text": "hello"}
    return client.post("/widget/chat/messages", data=json.dumps(body), headers={"Origin": origin, "Content-Type": "application/json"})


def test_refused_origins_are_listed_for_the_admin_and_bounded(hub):
    hub.add_connector("chat", "api", secret="chat-secret-1", widget=True, widget_origins=["https://www.acme.example"])
    client = hub.app.test_client()
    assert _post(client, "https://shop.acme.example").status_code == 403
    assert _post(client, "https://shop.acme.example").status_code == 403  # listed once
    assert _post(client, "javascript:alert(1)//<script>").status_code == 403  # refused, not listed
    admin = _admin_client(hub)
    page = admin.get("/admin/connectors/chat").get_data(as_text=True)
    assert "Chat widget: allowed sites" in page and "<code>https://www.acme.example</code>" in page
    assert page.count("<code>https://shop.acme.example</code>") == 1 and "add it to <b>widget_origins</b>" in page
    assert "script" not in page.split('id="widget-origins"')[1].split("</section>")[0]
    for i in range(40):  # a flood of made-up origins keeps only the newest 20
        _post(client, f"https://f{i}.example")
    page = admin.get("/admin/connectors/chat").get_data(as_text=True)
    listed = page.split('class="refused-origins"')[1].split("</ul>")[0]
    assert listed.count("<li>") == 20 and "https://f39.example" in listed and "https://shop.acme.example" not in listed
    # the allowed site itself is not refused
    assert _post(client, "https://www.acme.example").status_code in (200, 202)


def test_widget_page_of_a_connector_without_origins_says_only_the_hub(hub):
    hub.add_connector("chat", "api", secret="chat-secret-1", widget=True)
    page = _admin_client(hub).get("/admin/connectors/chat").get_data(as_text=True)
    assert "only the hub's own" in page and "<code>http://hub.test</code>" in page
    assert "No page from another site has been refused recently." in page
