"""Issue #16 end to end through a real worker: everyday requests triaged, STOP is a command
(no conversation, opt-out on the identity), and an agent's language override drives CSAT."""

from __future__ import annotations

from sqlalchemy import select

from hub.models import Conversation, Identity, InboundEvent, Message, Reply
from tests.hub.test_intel import SECRET, conv_json, post, web_desk
from tests.support.hub import wait_until


def _process(h):
    from workers import ingest

    with h.rt.db.read() as s:
        ids = list(s.scalars(select(InboundEvent.id).where(InboundEvent.state != "processed").order_by(InboundEvent.id)))
    ingest.process(h.rt, ids)


def _first_conversation(make_hub, text, sender):
    """A hub with a ``web`` api connector and one conversation opened by ``text`` (processed in
    this process): ``(hub, conversation JSON)``."""
    h = make_hub()
    h.add_connector("web", "api", secret=SECRET)
    post(h, id=f"{sender}-1", text=text, sender=sender)
    _process(h)
    return h, conv_json(h)


def test_everyday_requests_get_their_categories_through_the_worker(make_hub):
    h = make_hub()
    h.add_connector("web", "api", secret=SECRET)
    h.start_worker()
    cases = {"ana": ("Where is my deposit?", "deposit_not_credited", "en"),
             "bea": ("¿Dónde está mi depósito?", "deposit_not_credited", "es"),
             "cai": ("I can't log in to the app", "login_or_2fa_lost", "en"),
             "dan": ("No me llega mi retiro de 0.5 BTC", "withdrawal_pending", "es"),
             "eva": ("La app se cierra al abrir", "ui_error", None)}
    for i, (sender, (text, _cat, _lang)) in enumerate(cases.items()):
        post(h, id=f"e{i}", text=text, sender=sender)
    wait_until(lambda: h.count(InboundEvent, InboundEvent.state == "processed") == len(cases), message="all processed")
    with h.rt.db.read() as s:
        got = {c.identity.display_name.lower(): (c.category, c.language) for c in s.scalars(select(Conversation))}
    for sender, (_text, cat, lang) in cases.items():
        assert got[sender][0] == cat, (sender, got[sender])
        if lang:
            assert got[sender][1] == lang, (sender, got[sender])
    assert got["eva"][1] in ("es", None)  # never a wrong guess: Spanish or unknown


def test_stop_over_sms_is_a_command_not_a_conversation(make_hub):
    from hub.connectors import ConnectorService
    from hub.models import Connector
    from tests.contract.examples import EXAMPLES

    h = make_hub()
    h.add_connector("sms", "twilio", **EXAMPLES["twilio"])
    with h.rt.db.read() as s:
        adapter = ConnectorService(h.rt).adapter(s.scalar(select(Connector).where(Connector.name == "sms")))
    h.start_worker()

    def send(text, ident):
        hook, headers, body = adapter.simulate(text, ident)
        resp = h.client.post(f"/webhooks/sms/{hook}", data=body, headers=dict(headers))
        assert resp.status_code < 300, resp.get_data(as_text=True)

    send("STOP", "+34600111222")
    wait_until(lambda: h.count(InboundEvent, InboundEvent.state == "processed") == 1, message="STOP processed")
    assert h.count(Conversation) == 0 and h.count(Reply) == 0  # no conversation, no ack, no SLA
    with h.rt.db.read() as s:
        ident = s.scalars(select(Identity)).one()
        assert ident.opted_out and "STOP" in ident.opt_out_reason  # the channel's own account: the word and the date
    assert h.api("GET", "/api/v1/conversations").get_json()["items"] == []
    send("START", "+34600111222")
    wait_until(lambda: h.count(InboundEvent, InboundEvent.state == "processed") == 2, message="START processed")
    with h.rt.db.read() as s:
        assert not s.scalars(select(Identity)).one().opted_out
    assert h.count(Conversation) == 0
    # a real message from the same number opens a conversation, in Spanish
    send("hola no me llega mi retiro", "+34600111222")
    wait_until(lambda: h.count(Conversation) == 1, message="conversation")
    c = conv_json(h)
    assert c["category"] == "withdrawal_pending" and c["language"] == "es"


def test_language_override_in_the_api_changes_the_csat_language(make_hub, httpserver):
    h, received = web_desk(make_hub, httpserver)
    post(h, id="l1", text="Hola, mi saldo aparece duplicado en la aplicación desde ayer", sender="flor")
    conv = wait_until(lambda: conv_json(h), message="conversation")
    assert conv["language"] == "es" and conv["language_confirmed"] is False
    # the agent knows better: the customer wants Portuguese
    resp = h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"language": "pt"})
    assert resp.status_code == 200 and resp.get_json()["language"] == "pt" and resp.get_json()["language_confirmed"]
    assert h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"language": "xx"}).status_code == 400
    # a later Spanish message does not undo the confirmed language
    post(h, id="l2", text="Sigue apareciendo el saldo duplicado, por favor revisen", sender="flor")
    wait_until(lambda: h.count(InboundEvent, InboundEvent.state == "processed") == 2, message="second processed")
    assert conv_json(h, conv["id"])["language"] == "pt"
    h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"status": "resolved"})
    wait_until(lambda: len(received) == 1, message="survey sent")
    from config import templates

    assert received[0]["text"] == templates.render("csat_survey", "pt")
    assert received[0]["text"] != templates.render("csat_survey", "es")


def test_contact_language_is_confirmed_for_new_conversations(make_hub):
    h = make_hub()
    h.add_connector("web", "api", secret=SECRET)
    post(h, id="m1", text="Hello, what are your opening hours?", sender="gus")
    _process(h)
    conv = conv_json(h)
    with h.rt.db.read() as s:
        contact_id = s.get(Conversation, conv["id"]).contact_id
    resp = h.api("PATCH", f"/api/v1/contacts/{contact_id}", json={"language": "de"})
    assert resp.status_code == 200 and resp.get_json()["language"] == "de" and resp.get_json()["language_confirmed"]
    post(h, id="m2", text="Another question: do you support solana?", sender="gus")
    _process(h)
    with h.rt.db.read() as s:
        langs = {c.language for c in s.scalars(select(Conversation))}
    assert langs == {"de"}


def test_unknown_language_uses_the_desks_default_for_automatic_messages(make_hub):
    from config import templates

    h = make_hub(default_language="es")
    h.add_connector("web", "api", secret=SECRET, auto_ack=True)
    post(h, id="u1", text="ok 👍", sender="hal")
    _process(h)
    conv = conv_json(h)
    assert conv["language"] is None  # unknown: no guess stored
    with h.rt.db.read() as s:
        ack = s.scalars(select(Reply).where(Reply.kind == "auto")).one()
    assert ack.text == templates.render("auto_ack", "es", ref=conv["id"])


def test_the_widgets_browser_language_is_a_prior(make_hub):
    """navigator.language and Accept-Language reach the detector: an ambiguous 'saldo 0' (es, pt,
    ca, it all plausible; 'unknown' on its own) is Spanish from a Spanish browser, Portuguese
    from a Brazilian one."""
    site = "https://shop.example"
    h = make_hub()
    h.add_connector("site", "api", secret=SECRET, widget=True, widget_origins=[site])
    for visitor, lang, header in (("v" * 24, "es-ES", "es-ES,es;q=0.9"), ("w" * 24, "pt-BR", "pt-BR,pt;q=0.9")):
        resp = h.client.post("/widget/site/messages", json={"visitor": visitor, "id": f"id{lang}", "text": "saldo 0", "language": lang},
                             headers={"Origin": site, "Accept-Language": header})
        assert resp.status_code == 202, resp.get_data(as_text=True)
    _process(h)
    with h.rt.db.read() as s:
        langs = {c.thread_key.split(":")[-1][-24:]: c.language for c in s.scalars(select(Conversation))}
        extras = [m.extra.get("widget") for m in s.scalars(select(Message).order_by(Message.id))]
    assert langs["v" * 24] == "es"
    assert langs["w" * 24] == "pt"
    assert {"language": "es-ES", "accept_language": "es-ES,es;q=0.9"}.items() <= extras[0].items()


def test_the_contacts_earlier_language_is_the_prior_of_a_new_conversation(make_hub):
    """A short message nobody could place ("ok?") opens a new conversation in the language the
    contact wrote in before; a contact with no history stays unknown (the desk's default)."""
    import json

    from hub import signing

    h = make_hub()
    h.add_connector("web", "api", secret=SECRET)
    h.start_worker()

    def send(i, sender, text, thread):
        body = json.dumps({"id": f"p{i}", "thread": thread, "from": {"id": sender, "name": sender.title()}, "text": text}).encode()
        assert h.client.post("/webhooks/web/messages", data=body,
                             headers={"Content-Type": "application/json", **signing.sign(SECRET, body)}).status_code == 200

    send(1, "sol", "Hola, desde ayer no puedo retirar mis fondos y la aplicación no me dice por qué", "t1")
    wait_until(lambda: h.count(Conversation) == 1, message="first conversation")
    send(2, "sol", "ok?", "t2")  # a new thread: a new conversation
    send(3, "new", "ok?", "t3")
    wait_until(lambda: h.count(InboundEvent, InboundEvent.state == "processed") == 3, message="processed")
    with h.rt.db.read() as s:
        by_thread = {c.thread_key.rsplit(":", 1)[-1]: c for c in s.scalars(select(Conversation))}
        langs = {k: c.language for k, c in by_thread.items()}
    assert len(by_thread) == 3, by_thread.keys()
    assert langs["t1"] == "es" and langs["t2"] == "es"  # the contact's earlier language
    assert langs["t3"] is None  # no history, no guess


def test_a_contacts_language_set_mid_conversation_drives_the_survey_and_the_thanks(make_hub, httpserver):
    """Found by a newcomer (2026-12-07): the contact's language was set to German while the
    conversation was open; the survey went out in English and the thanks in German."""
    from config import templates

    h, received = web_desk(make_hub, httpserver, desk_name="Acme Wallet Help")
    post(h, id="c1", text="Hello, my card payment was declined twice today", sender="ida")
    conv = wait_until(lambda: conv_json(h), message="conversation")
    assert conv["language"] == "en"
    with h.rt.db.read() as s:
        contact_id = s.get(Conversation, conv["id"]).contact_id
    resp = h.api("PATCH", f"/api/v1/contacts/{contact_id}", json={"language": "DE"})  # any case
    assert resp.status_code == 200 and resp.get_json()["language"] == "de"
    assert conv_json(h, conv["id"])["language"] == "de"  # the open conversation shows it at once
    assert h.api("PATCH", f"/api/v1/contacts/{contact_id}", json={"language": "pt-BR"}).get_json()["language"] == "pt"
    h.api("PATCH", f"/api/v1/contacts/{contact_id}", json={"language": "de"})
    h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"status": "resolved"})
    wait_until(lambda: len(received) == 1, message="survey sent")
    assert received[0]["text"] == templates.render("csat_survey", "de") and received[0]["author"] == "Acme Wallet Help"
    post(h, id="c2", text="5", sender="ida")
    wait_until(lambda: len(received) == 2, message="thanks sent")
    assert received[1]["text"] == templates.render("csat_thanks", "de") and received[1]["author"] == "Acme Wallet Help"
    # the list filter takes any case and "unknown"
    assert [c["id"] for c in h.api("GET", "/api/v1/conversations?language=DE").get_json()["items"]] == [conv["id"]]
    assert h.api("GET", "/api/v1/conversations?language=unknown").get_json()["items"] == []


def test_each_message_carries_the_detectors_confidence_and_the_sender_cannot_set_it(make_hub):
    import json as _json

    from hub import signing
    from tests.hub.test_intel import SECRET as _SECRET

    h = make_hub()
    h.add_connector("web", "api", secret=SECRET)
    post(h, id="q1", text="Bonjour, mon retrait est bloqué depuis hier soir, pouvez-vous vérifier ?", sender="jo")
    body = _json.dumps({"id": "q2", "from": {"id": "jo", "name": "Jo"}, "text": "ok", "language_confidence": 0.99}).encode()
    resp = h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(_SECRET, body)})
    assert resp.status_code == 200
    _process(h)
    msgs = h.api("GET", f"/api/v1/conversations/{conv_json(h)['id']}").get_json()["messages"]
    first, second = msgs[0], msgs[1]
    assert first["language"] == "fr" and first["language_confidence"] >= 0.9
    assert second["language"] is None and second["language_confidence"] < 0.5  # "ok": unknown, with the detector's figure


def test_a_few_words_in_another_language_do_not_move_the_conversation(make_hub):
    """Found by a newcomer (2026-12-07): "ok merci" moved a Dutch conversation to French, "5 -
    excellent service!" a German one to French, with high confidence; the thanks then went out
    in the wrong language. A longer message in another language still moves it."""
    h, conv = _first_conversation(make_hub, "Hallo, meine Auszahlung hängt seit gestern, können Sie bitte nachsehen?", "kai")
    assert conv["language"] == "de"
    for i, text in enumerate(("5 - excellent service!", "ok merci", "thanks!", "Order 55512, thanks"), start=2):
        post(h, id=f"s{i}", text=text, sender="kai")
        _process(h)
        assert conv_json(h, conv["id"])["language"] == "de", text
    post(h, id="s9", text="Sorry, could you please write to me in English from now on? My German is not good.", sender="kai")
    _process(h)
    assert conv_json(h, conv["id"])["language"] == "en"


def test_back_to_detection_takes_the_detected_language_again(make_hub):
    """Found by a newcomer (2026-12-07): "Use detection" (language null) left the confirmed
    language in place, so the survey still went out in it."""
    h, conv = _first_conversation(make_hub, "hola, no me llega el código de verificación al móvil desde ayer", "leo")
    assert conv["language"] == "es"
    h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"language": "de"})
    back = h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"language": None}).get_json()
    assert (back["language"], back["language_confirmed"]) == ("es", False)
    # with the contact's language confirmed, back to detection is the contact's
    contact_id = back["contact_id"]
    h.api("PATCH", f"/api/v1/contacts/{contact_id}", json={"language": "fr"})
    h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"language": "de"})
    assert h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"language": None}).get_json()["language"] == "fr"
    # and the contact back to detection: theirs and their conversations' detected language again
    contact = h.api("PATCH", f"/api/v1/contacts/{contact_id}", json={"language": None}).get_json()
    assert (contact["language"], contact["language_confirmed"]) == ("es", False)
    assert conv_json(h, conv["id"])["language"] == "es"


def test_an_agent_corrects_the_category_and_the_security_flag_follows(make_hub):
    """Found by a newcomer (2026-12-07): a false scam report corrected to a UI error kept the
    security flag, and neither the inbox nor the API could clear it; any category string was stored."""
    h, conv = _first_conversation(make_hub, "I'd like to report a bug: the scam warning banner overlaps my balance on the home screen", "mo")
    url = f"/api/v1/conversations/{conv['id']}"
    h.api("PATCH", url, json={"category": "scam_or_phishing_report"})
    assert conv_json(h, conv["id"])["security_flag"] is True
    fixed = h.api("PATCH", url, json={"category": "UI error"}).get_json()  # any case, spaces for underscores
    assert (fixed["category"], fixed["security_flag"]) == ("ui_error", False)
    bad = h.api("PATCH", url, json={"category": "bogus"})
    assert bad.status_code == 400 and "ui_error" in bad.get_data(as_text=True)
    assert h.api("PATCH", url, json={"security_flag": True}).get_json()["security_flag"] is True
    assert h.api("PATCH", url, json={"security_flag": False}).get_json()["security_flag"] is False
