"""messenger and instagram channels: one journaled Messenger Platform event -> NormalizedMessage.

Pure: no I/O. Facebook Messenger (``object: "page"``) and Instagram messaging (``object:
"instagram"``) deliver the same shape: ``entry[].messaging[]`` items with ``sender``,
``recipient``, ``timestamp`` and one of ``message``, ``delivery``, ``read``, ``reaction``,
``postback``, ``referral`` (https://developers.facebook.com/docs/messenger-platform/webhooks,
https://developers.facebook.com/docs/instagram-platform/webhooks). The adapter splits a
delivery into one event per item (``split``); this module turns one into messages.

Addresses: ``messenger:<PSID>`` / ``instagram:<IGSID>`` (page- / account-scoped ids; the
Twilio Messenger address has the same form). One conversation per (customer, page/account):
``thread_key = "<connector>:messenger:<PSID>><page_id>"``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from hub.errors import PayloadInvalid
from normalizers.model import Attachment, DeliveryStatus, NormalizedMessage, Participant, Reaction, Referral

OBJECTS = {"page": "messenger", "instagram": "instagram"}
_KIND_TYPES = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/mpeg", "file": "application/octet-stream"}


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def load(payload: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadInvalid(f"messenger: event is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadInvalid("messenger: event must be a JSON object")
    return data


def participant(medium: str, scoped_id: str, name: str = "") -> Participant:
    return Participant(medium=medium, address=f"{medium}:{scoped_id}", name=name, extra={"id": scoped_id})


def thread_key(connector: str, customer_address: str, our_id: str) -> str:
    return f"{connector}:{customer_address}>{our_id}"


def event_id(item: Mapping[str, Any]) -> list[str]:
    """The idempotency key(s) of one messaging item ([] when it carries nothing we keep)."""
    msg = _obj(item.get("message"))
    if msg.get("mid"):
        return [str(msg["mid"]) + (":deleted" if msg.get("is_deleted") else "")]
    if isinstance(item.get("message_edit"), dict) and item["message_edit"].get("mid"):
        edit = item["message_edit"]
        return [f"{edit['mid']}:edit:{edit.get('num_edit', item.get('timestamp', ''))}"]
    sender = _obj(item.get("sender")).get("id", "")
    if isinstance(item.get("delivery"), dict):
        mids = [f"{mid}:delivered" for mid in item["delivery"].get("mids") or () if mid]
        if not mids and item["delivery"].get("watermark"):  # mids "may not be present": the watermark covers them
            return [f"delivered:{sender}:{item['delivery']['watermark']}"]
        return mids
    read = _obj(item.get("read"))
    if read.get("mid"):  # Instagram names the message read
        return [f"{read['mid']}:read"]
    if read.get("watermark"):  # Messenger: everything sent up to the watermark was read
        return [f"read:{sender}:{read['watermark']}"]
    reaction = _obj(item.get("reaction"))
    if reaction.get("mid"):
        return [f"{reaction['mid']}:reaction:{reaction.get('action', 'react')}:{_obj(item.get('sender')).get('id', '')}:{item.get('timestamp', '')}"]
    postback = _obj(item.get("postback"))
    if postback:
        return [str(postback.get("mid") or f"postback:{_obj(item.get('sender')).get('id', '')}:{item.get('timestamp', '')}")]
    if _obj(item.get("referral")):  # messaging_referrals: came back to the thread through an ad or link
        return [f"referral:{sender}:{item.get('timestamp', '')}"]
    return []


def split(data: Mapping[str, Any], *, our_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """A delivery -> [(external_id, event type, one-item envelope)], for our page/account only."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for entry in data.get("entry") or ():
        if not isinstance(entry, dict):
            raise PayloadInvalid("messenger: an entry is not an object")
        if our_id and str(entry.get("id") or "") not in ("", our_id):
            continue
        for item in entry.get("messaging") or ():
            if not isinstance(item, dict):
                raise PayloadInvalid("messenger: a messaging item is not an object")
            kind = next((k for k in ("message", "message_edit", "delivery", "read", "reaction", "postback", "referral") if k in item), "other")
            items = [item]
            if kind == "delivery" and _obj(item["delivery"]).get("mids"):  # one event per message it reports
                items = [{**item, "delivery": {**item["delivery"], "mids": [mid]}} for mid in item["delivery"].get("mids") or () if mid]
            for one in items:
                env = {"object": data.get("object"), "entry": [{"id": entry.get("id"), "time": entry.get("time"), "messaging": [one]}]}
                for eid in event_id(one):
                    out.append((eid, kind, env))
    return out


def _when(ms: Any, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return fallback


def _attachments(items: Any) -> tuple[list[Attachment], list[str]]:
    atts: list[Attachment] = []
    notes: list[str] = []
    for i, att in enumerate(items or ()):
        if not isinstance(att, dict):
            continue
        kind = str(att.get("type") or "file")
        payload = _obj(att.get("payload"))
        url = payload.get("url")
        if kind in _KIND_TYPES and isinstance(url, str) and url:
            stem = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or f"{kind}{i}"
            atts.append(Attachment(filename=stem[:120], content_type=_KIND_TYPES[kind], url=url))
        elif kind in ("share", "ig_reel", "reel", "story_mention", "template", "fallback", "ig_post"):
            label = {"story_mention": "Mentioned you in their story", "share": "Shared a post", "ig_reel": "Shared a reel",
                     "reel": "Shared a reel", "ig_post": "Shared a post"}.get(kind, f"Shared a {kind}")
            notes.append(f"[{label}{': ' + url if isinstance(url, str) and url else ''}]")
        elif kind == "location":
            coords = _obj(payload.get("coordinates"))
            notes.append(f"[Location: {coords.get('lat')},{coords.get('long')}]")
        else:
            notes.append(f"[Unsupported attachment type: {kind}]")
    return atts, notes


def normalize(payload: bytes | str, *, connector: str, medium: str, our_id: str, received_at: datetime,
              profiles: Mapping[str, Mapping[str, Any]] | None = None, explain: Any = None) -> list[NormalizedMessage]:
    data = load(payload)
    try:
        entry = data["entry"][0]
        item = entry["messaging"][0]
    except (KeyError, IndexError, TypeError):
        raise PayloadInvalid("messenger: event has no entry[0].messaging[0]") from None
    if not isinstance(item, dict):
        raise PayloadInvalid("messenger: messaging item is not an object")
    sender_id = str(_obj(item.get("sender")).get("id") or "")
    recipient_id = str(_obj(item.get("recipient")).get("id") or "")
    when = _when(item.get("timestamp"), received_at)
    msg = _obj(item.get("message"))
    echo = bool(msg.get("is_echo")) or (sender_id == our_id and bool(our_id))
    customer_id = recipient_id if echo else sender_id
    if not customer_id:
        raise PayloadInvalid("messenger: item without sender.id")
    profile = _obj((profiles or {}).get(customer_id))
    customer = participant(medium, customer_id, str(profile.get("name") or ""))
    ours = participant(medium, our_id or recipient_id)
    key = thread_key(connector, customer.address, our_id or recipient_id)
    extra: dict[str, Any] = {"platform": medium}
    if profile.get("username"):
        extra["username"] = profile["username"]

    def message(external_id: str, text: str, **kw: Any) -> NormalizedMessage:
        return NormalizedMessage(medium=medium, connector=connector, external_id=external_id, thread_key=key, sender=customer,
                                 recipients=(ours,), sent_at=when, text=text, full_text=text, extra={**extra, **kw.pop("more", {})}, **kw)

    if echo:
        return []  # our own message (sent by omnihub or from the page's inbox): never a customer message
    def up_to(status: str, watermark: Any) -> list[NormalizedMessage]:
        """Every reply of the thread sent at or before the watermark (a time in ms) has this status."""
        return [NormalizedMessage(medium=medium, connector=connector, external_id=event_id(item)[0], thread_key=key, sender=ours,
                                  recipients=(customer,), sent_at=_when(watermark, when), direction="outbound", kind="status",
                                  status=DeliveryStatus(status=status, watermark=True), extra=extra)]

    if isinstance(item.get("delivery"), dict):
        if not item["delivery"].get("mids") and item["delivery"].get("watermark"):
            return up_to("delivered", item["delivery"]["watermark"])
        return [NormalizedMessage(medium=medium, connector=connector, external_id=f"{mid}:delivered", thread_key=key, sender=ours,
                                  recipients=(customer,), sent_at=when, direction="outbound", kind="status", in_reply_to=str(mid),
                                  status=DeliveryStatus(status="delivered"), extra=extra)
                for mid in item["delivery"].get("mids") or () if mid]
    read = _obj(item.get("read"))
    if read.get("watermark") and not read.get("mid"):
        return up_to("read", read["watermark"])
    if read.get("mid"):
        return [NormalizedMessage(medium=medium, connector=connector, external_id=f"{read['mid']}:read", thread_key=key, sender=ours,
                                  recipients=(customer,), sent_at=when, direction="outbound", kind="status", in_reply_to=str(read["mid"]),
                                  status=DeliveryStatus(status="read"), extra=extra)]
    if isinstance(item.get("message_edit"), dict):
        edit = item["message_edit"]
        return [message(event_id(item)[0], str(edit.get("text") or ""), kind="edit", in_reply_to=str(edit.get("mid")))]
    if msg.get("is_deleted"):
        return [message(f"{msg['mid']}:deleted", "", kind="delete", in_reply_to=str(msg["mid"]))]
    if msg.get("mid"):
        atts, notes = _attachments(msg.get("attachments"))
        text = str(msg.get("text") or "")
        if msg.get("is_unsupported"):
            notes.append(f"[Unsupported {medium} message]")
        if msg.get("sticker_id") and not text:
            notes.append("[Sticker]")
        text = "\n".join(x for x in [text, *notes] if x)
        if not text and not atts:
            text = f"[Unsupported {medium} message]"
        more: dict[str, Any] = {}
        reply_to = _obj(msg.get("reply_to"))
        if _obj(reply_to.get("story")):
            more["story_reply"] = reply_to["story"]
            text = f"[Replied to your story: {reply_to['story'].get('url', '')}]\n{text}".strip()
        if _obj(msg.get("quick_reply")).get("payload"):
            more["quick_reply_payload"] = msg["quick_reply"]["payload"]
        referral = None
        story = _obj(reply_to.get("story"))
        mention = next((_obj(a.get("payload")) for a in msg.get("attachments") or () if isinstance(a, dict) and a.get("type") == "story_mention"), None)
        if story:  # the text already says so ("[Replied to your story: <link>]"); the API gets it structured too
            referral = Referral(source="story_reply", url=str(story.get("url") or ""))
        elif mention is not None:
            referral = Referral(source="story_mention", url=str(mention.get("url") or ""))
        if isinstance(msg.get("referral"), dict):  # the first message after an ad / m.me / ig.me link
            more["referral"] = msg["referral"]
            referral = _referral(msg["referral"])
        return [message(str(msg["mid"]), text, attachments=tuple(atts), in_reply_to=str(reply_to["mid"]) if reply_to.get("mid") else None,
                        referral=referral, more=more)]
    reaction = _obj(item.get("reaction"))
    if reaction.get("mid"):
        # shown on the message it reacts to; the text is the placeholder for a message the hub does not know
        emoji = str(reaction.get("emoji") or reaction.get("reaction") or "")
        removed = reaction.get("action", "react") != "react"
        text = "[Removed a reaction]" if removed else f"[Reacted {emoji} to a message]"
        return [message(event_id(item)[0], text, in_reply_to=str(reaction["mid"]), reaction=Reaction(emoji="" if removed else emoji),
                        more={"reaction": reaction})]
    postback = _obj(item.get("postback"))
    if postback:
        referral = _referral(postback["referral"]) if isinstance(postback.get("referral"), dict) else None
        return [message(event_id(item)[0], str(postback.get("title") or postback.get("payload") or "Button tapped"),
                        referral=referral, more={"postback_payload": postback.get("payload")})]
    if _obj(item.get("referral")):  # back in an existing thread through an ad or link, before writing anything
        ref = _referral(item["referral"])
        return [message(event_id(item)[0], f"[{ref.label}]", referral=ref, more={"referral": item["referral"]})]
    return []


def _referral(ref: Mapping[str, Any]) -> Referral:
    """Meta's referral object (messages, postbacks, messaging_referrals) as the hub's Referral."""
    ads = _obj(ref.get("ads_context_data"))
    source = str(ref.get("source") or "").upper()
    kind = "ad" if source == "ADS" or ref.get("ad_id") else "link" if source in ("SHORTLINK", "SHORT-URL", "IGME-SOURCE-LINK", "SHORTLINKS") \
        else (source.lower() or "link")
    return Referral(source=kind, url=str(ads.get("photo_url") or ads.get("video_url") or ref.get("referer_uri") or ""),
                    headline=str(ads.get("ad_title") or ""), ref=str(ref.get("ref") or ""), ad_id=str(ref.get("ad_id") or ""))
