"""Recorded Meta payloads for the whatsapp / messenger / instagram tests.

Each sample follows the example (or the syntax, its placeholders filled with Meta's own
sample values where the page gives them) of Meta's documentation for that webhook or API
response, with the page it comes from noted above it. Builders re-date them and swap ids where a test needs distinct events; the shape
is never changed.
"""

from __future__ import annotations

import copy
import time
from typing import Any

WABA_ID = "102290129340398"  # Meta's sample WhatsApp Business Account id
PHONE_NUMBER_ID = "106540352242922"  # Meta's sample business phone number id
DISPLAY_NUMBER = "15550783881"
WA_ID = "16505551234"  # Meta's sample WhatsApp user id (a US number)
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="


def _envelope(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
            **value,
        }, "field": "messages"}]}],
    }


def _inbound(message: dict[str, Any], name: str = "Sheena Nelson") -> dict[str, Any]:
    return _envelope({"contacts": [{"profile": {"name": name}, "wa_id": WA_ID}], "messages": [message]})


# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/text/
TEXT = _inbound({"from": WA_ID, "id": WAMID, "timestamp": "1739321024", "type": "text",
                 "text": {"body": "Does it come in another color?"}})

# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/image/
IMAGE = _inbound({"from": WA_ID, "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMQA=", "timestamp": "1739321025",
                  "type": "image", "image": {"caption": "Black jacket", "mime_type": "image/jpeg",
                                             "sha256": "81d3bd8a8db4868c9520ed47186e8b7c5789e61ff79f7f834be6950b808a90d3",
                                             "id": "2754859441498128"}})

# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/audio/
AUDIO = _inbound({"from": WA_ID, "id": "wamid.AUDIO0000000000000000000000000000000000001", "timestamp": "1739321026",
                  "type": "audio", "audio": {"mime_type": "audio/ogg; codecs=opus",
                                             "sha256": "6e59ba7bc4d6cc1a3e10bfe5d9f3ccf0b8e4a4a5e0c3e3f6e0e3c2b1a0f9e8d7",
                                             "id": "1003383421387256", "voice": True}})

# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/document/
DOCUMENT = _inbound({"from": WA_ID, "id": "wamid.DOC00000000000000000000000000000000000001", "timestamp": "1739321027",
                     "type": "document", "document": {"caption": "Receipt", "filename": "receipt.pdf", "mime_type": "application/pdf",
                                                      "sha256": "e8f6a1c1c6b5c7d4a0e9b2f3d4c5b6a7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3",
                                                      "id": "1166846181421424"}})

# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/video/
VIDEO = _inbound({"from": WA_ID, "id": "wamid.VIDEO000000000000000000000000000000000001", "timestamp": "1739321028",
                  "type": "video", "video": {"mime_type": "video/mp4", "sha256": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
                                             "id": "1684617525422565"}})

# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/sticker/
STICKER = _inbound({"from": WA_ID, "id": "wamid.STICKER0000000000000000000000000000000001", "timestamp": "1739321029",
                    "type": "sticker", "sticker": {"mime_type": "image/webp", "sha256": "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
                                                   "id": "1228181695218427", "animated": False}})

# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/location/
LOCATION = _inbound({"from": WA_ID, "id": "wamid.LOCATION000000000000000000000000000000001", "timestamp": "1739321030",
                     "type": "location", "location": {"address": "1 Hacker Way, Menlo Park, CA 94025", "latitude": 37.483307,
                                                      "longitude": -122.148981, "name": "Philz Coffee", "url": "https://www.philzcoffee.com/"}})

# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/contacts/
CONTACTS = _inbound({"from": WA_ID, "id": "wamid.CONTACTS000000000000000000000000000000001", "timestamp": "1739321031",
                     "type": "contacts", "contacts": [{"name": {"first_name": "Barbara", "last_name": "Johnson", "formatted_name": "Barbara J. Johnson"},
                                                        "phones": [{"phone": "+1 (415) 555-0123", "wa_id": "14155550123", "type": "MOBILE"}],
                                                        "emails": [{"email": "bjohnson@example.com", "type": "WORK"}]}]})

# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/interactive/
BUTTON_REPLY = _inbound({"context": {"from": DISPLAY_NUMBER, "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJBRkJDRkU2NzRBMDUzNUI4MUMA"},
                         "from": WA_ID, "id": "wamid.INTERACTIVE00000000000000000000000000001", "timestamp": "1739321032",
                         "type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "cancel-order", "title": "Cancel order"}}})
LIST_REPLY = _inbound({"context": {"from": DISPLAY_NUMBER, "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJBRkJDRkU2NzRBMDUzNUI4MUQA"},
                       "from": WA_ID, "id": "wamid.INTERACTIVE00000000000000000000000000002", "timestamp": "1739321033",
                       "type": "interactive", "interactive": {"type": "list_reply", "list_reply": {
                           "id": "priority_express", "title": "Priority Mail Express", "description": "Next Day to 2 Days"}}})

# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/button/
TEMPLATE_BUTTON = _inbound({"context": {"from": DISPLAY_NUMBER, "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJBRkJDRkU2NzRBMDUzNUI4MUUA"},
                            "from": WA_ID, "id": "wamid.BUTTON000000000000000000000000000000001", "timestamp": "1739321034",
                            "type": "button", "button": {"payload": "Unsubscribe from Promos", "text": "Unsubscribe from Promos"}})

# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/reaction/
REACTION = _inbound({"from": WA_ID, "id": "wamid.REACTION000000000000000000000000000000001", "timestamp": "1739321035",
                     "type": "reaction", "reaction": {"message_id": WAMID, "emoji": "\U0001f44d"}})

# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/unsupported/
UNSUPPORTED = _inbound({"from": WA_ID, "id": "wamid.UNSUPPORTED0000000000000000000000000000001", "timestamp": "1739321036",
                        "type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                                                           "error_data": {"details": "Message type is currently not supported."}}]})


# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/
def status(wamid: str, state: str, *, recipient: str = WA_ID, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": wamid, "status": state, "timestamp": str(int(time.time())), "recipient_id": recipient}
    if state in ("sent", "delivered", "read"):
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}
    if errors:
        item["errors"] = errors
    return _envelope({"statuses": [item]})


# the failed status of a free-form message sent outside the customer service window (same page)
RE_ENGAGEMENT = [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                  "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                  "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]


def inbound(sample: dict[str, Any], *, wamid: str | None = None, text: str | None = None, now: bool = True) -> dict[str, Any]:
    """A copy of an inbound sample, re-dated to now (the hub's idle gap counts from now)."""
    data = copy.deepcopy(sample)
    msg = data["entry"][0]["changes"][0]["value"]["messages"][0]
    if wamid:
        msg["id"] = wamid
    if text is not None:
        msg["text"]["body"] = text
    if now:
        msg["timestamp"] = str(int(time.time()))
    return data


def multi(*deliveries: dict[str, Any]) -> dict[str, Any]:
    """Several deliveries batched into one POST: Meta's entries side by side."""
    out = copy.deepcopy(deliveries[0])
    for d in deliveries[1:]:
        out["entry"].extend(copy.deepcopy(d["entry"]))
    return out


# https://developers.facebook.com/documentation/business-messaging/whatsapp/reference/whatsapp-business-phone-number/message-api (response)
SEND_RESPONSE = {"messaging_product": "whatsapp", "contacts": [{"input": "+16505551234", "wa_id": WA_ID}],
                 "messages": [{"id": "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}]}

# https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media#retrieve-media-url
MEDIA_URL = {"messaging_product": "whatsapp", "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=2754859441498128",
             "mime_type": "image/jpeg", "sha256": "81d3bd8a8db4868c9520ed47186e8b7c5789e61ff79f7f834be6950b808a90d3",
             "file_size": "303833", "id": "2754859441498128"}

# https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media#upload-media (response)
UPLOAD_RESPONSE = {"id": "1037543291543636"}

# https://developers.facebook.com/docs/graph-api/reference/whatsapp-business-account-to-number-current-status/ (GET <PHONE_NUMBER_ID>)
PHONE_NUMBER = {"verified_name": "Jasper's Market", "code_verification_status": "VERIFIED", "display_phone_number": "+1 555-078-3881",
                "quality_rating": "GREEN", "name_status": "APPROVED", "id": PHONE_NUMBER_ID}

# https://developers.facebook.com/docs/graph-api/guides/error-handling (an expired token: code 190, subcode 463)
TOKEN_EXPIRED = {"error": {"message": "Error validating access token: Session has expired on Friday, 04-Dec-26 10:00:00 PST. "
                                      "The current time is Saturday, 05-Dec-26 10:00:00 PST.",
                           "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "EJplcsCHuLu"}}

# https://developers.facebook.com/docs/graph-api/guides/error-handling (throttling: code 4, HTTP 429 / 400)
RATE_LIMITED = {"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "is_transient": True,
                          "code": 4, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}


# ------------------------------------------------------------------ Messenger / Instagram
PAGE_ID = "1234567890"
PSID = "6789012345678901"
IG_USER_ID = "17841400000000000"
IGSID = "5432109876543210"


def messaging(obj: str, our_id: str, item: dict[str, Any]) -> dict[str, Any]:
    """One delivery of the Messenger Platform webhook (object page or instagram) with one item."""
    now_ms = int(time.time() * 1000)
    return {"object": obj, "entry": [{"id": our_id, "time": now_ms, "messaging": [{"timestamp": now_ms, **item}]}]}


# https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages (text)
def m_text(mid: str = "m_toDnmD9wqYwPudZ7oJ56ERtnmHXnAfudTbxxDfmcGfnR1eeaBZIWSiYwmlIDqDswx6Fn0yOz4dB", text: str = "This is a text message",
           *, obj: str = "page", our_id: str = PAGE_ID, customer: str = PSID) -> dict[str, Any]:
    return messaging(obj, our_id, {"sender": {"id": customer}, "recipient": {"id": our_id}, "message": {"mid": mid, "text": text}})


# same page (attachments): image by CDN URL
def m_image(url: str, mid: str = "m_attach0000000000000000001") -> dict[str, Any]:
    return messaging("page", PAGE_ID, {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
                                       "message": {"mid": mid, "attachments": [{"type": "image", "payload": {"url": url}}]}})


# https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/message-echoes
M_ECHO = messaging("page", PAGE_ID, {"sender": {"id": PAGE_ID}, "recipient": {"id": PSID},
                                     "message": {"is_echo": True, "app_id": 1517776481860111, "metadata": "omnihub",
                                                 "mid": "mid.1457764197618:41d102a3e1ae206a38", "text": "hello, world!"}})


# https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/message-deliveries
def m_delivery(*mids: str, obj: str = "page", our_id: str = PAGE_ID, customer: str = PSID) -> dict[str, Any]:
    return messaging(obj, our_id, {"sender": {"id": customer}, "recipient": {"id": our_id},
                                   "delivery": {"mids": list(mids), "watermark": int(time.time() * 1000)}})


# https://developers.facebook.com/docs/instagram-platform/webhooks/examples (messaging_seen)
def ig_seen(mid: str) -> dict[str, Any]:
    return messaging("instagram", IG_USER_ID, {"sender": {"id": IGSID}, "recipient": {"id": IG_USER_ID}, "read": {"mid": mid}})


# https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/message-reactions
M_REACTION = messaging("page", PAGE_ID, {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
                                         "reaction": {"reaction": "love", "emoji": "\u2764\ufe0f", "action": "react", "mid": "m_ours0001"}})

# https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/messaging_postbacks
M_POSTBACK = messaging("page", PAGE_ID, {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
                                         "postback": {"title": "Talk to an agent", "payload": "HUMAN", "mid": "m_postback0001"}})

# https://developers.facebook.com/docs/instagram-platform/webhooks/examples (story mention, story reply, unsend)
IG_STORY_MENTION = messaging("instagram", IG_USER_ID, {"sender": {"id": IGSID}, "recipient": {"id": IG_USER_ID},
                                                       "message": {"mid": "aWdfZAG1faXRlbTpzdG9yeW1lbnRpb24", "attachments": [
                                                           {"type": "story_mention", "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}}]}})
IG_STORY_REPLY = messaging("instagram", IG_USER_ID, {"sender": {"id": IGSID}, "recipient": {"id": IG_USER_ID},
                                                     "message": {"mid": "aWdfZAG1faXRlbTpzdG9yeXJlcGx5", "text": "Love this!",
                                                                 "reply_to": {"story": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=2", "id": "17920000000000000"}}}})
IG_UNSEND = messaging("instagram", IG_USER_ID, {"sender": {"id": IGSID}, "recipient": {"id": IG_USER_ID},
                                                "message": {"mid": "aWdfZAG1faXRlbTpzdG9yeXJlcGx5", "is_deleted": True}})

# https://developers.facebook.com/docs/messenger-platform/identity/user-profile (response)
PSID_PROFILE = {"first_name": "Peter", "last_name": "Chang", "id": PSID}
# https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api/user-profile (response)
IGSID_PROFILE = {"name": "Peter Chang", "username": "peter_chang_live", "id": IGSID}


# https://developers.facebook.com/docs/graph-api/reference/debug_token (response; a System User token that never expires)
DEBUG_TOKEN = {"data": {"app_id": "000000000000000", "type": "SYSTEM_USER", "application": "Social Cafe", "data_access_expires_at": 0,
                        "expires_at": 0, "is_valid": True, "issued_at": 1347235328,
                        "scopes": ["whatsapp_business_messaging", "whatsapp_business_management", "pages_messaging"], "user_id": "1207059"}}


# https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/message_templates/ (GET response)
TEMPLATES = {"data": [
    {"name": "hello_world", "components": [{"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                                           {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us."},
                                           {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"}],
     "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "1192339204654487"},
    {"name": "order_update", "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."}],
     "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "1192339204654488"},
    {"name": "spring_sale", "components": [{"type": "BODY", "text": "Our spring sale starts {{1}}!"}],
     "language": "en_US", "status": "REJECTED", "category": "MARKETING", "id": "1192339204654489"},
], "paging": {"cursors": {"before": "MAZDZD", "after": "MgZDZD"}}}

# https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes (132001, a template that does not exist in that language)
TEMPLATE_MISSING = {"error": {"message": "(#132001) Template name does not exist in the translation", "type": "OAuthException",
                              "code": 132001, "error_data": {"messaging_product": "whatsapp", "details": "template name (spring_sale) does not exist in en_US"},
                              "fbtrace_id": "AXnBjCmQjN7uHhBvjDSRiXf"}}


# ------------------------------------------------------------------ reactions, edits, referrals, watermarks
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/reaction/
# ("When an end user removes a reaction emoji, WhatsApp sends a webhook without the emoji field")
def wa_reaction(target: str, emoji: str | None, wamid: str) -> dict[str, Any]:
    reaction: dict[str, Any] = {"message_id": target}
    if emoji is not None:
        reaction["emoji"] = emoji
    return _inbound({"from": WA_ID, "id": wamid, "timestamp": str(int(time.time())), "type": "reaction", "reaction": reaction})


# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/text/
# (trigger "a text message to a business via a Click to WhatsApp ad": the message carries a referral object)
CTWA_TEXT = _inbound({"referral": {"source_url": "https://fb.me/3cr4Wqqkv", "source_id": "120226305854810726", "source_type": "ad",
                                   "body": "Free shipping on every order this week", "headline": "Spring sale at Jasper's Market",
                                   "media_type": "image", "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/ad.jpg",
                                   "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GABDLOPaOdRMv-_zfUQ2a"},
                      "from": WA_ID, "id": "wamid.CTWA00000000000000000000000000000000001", "timestamp": "1739321040",
                      "type": "text", "text": {"body": "Is the sale still on?"}})


# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/edit
# (Business app coexistence: the customer edited an earlier message)
def wa_edit(original: str, text: str, wamid: str) -> dict[str, Any]:
    return _inbound({"from": WA_ID, "id": wamid, "timestamp": str(int(time.time())), "type": "edit",
                     "edit": {"original_message_id": original, "message": {"type": "text", "text": {"body": text}}}})


# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/revoke
def wa_revoke(original: str, wamid: str) -> dict[str, Any]:
    return _inbound({"from": WA_ID, "id": wamid, "timestamp": str(int(time.time())), "type": "revoke",
                     "revoke": {"original_message_id": original}})


# https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes (131026, in a failed status)
UNDELIVERABLE = [{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
                  "error_data": {"details": "Message Undeliverable."},
                  "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]


# https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/message-reactions (action unreact)
def m_reaction(mid: str, emoji: str, action: str = "react", *, obj: str = "page", our_id: str = PAGE_ID, customer: str = PSID) -> dict[str, Any]:
    return messaging(obj, our_id, {"sender": {"id": customer}, "recipient": {"id": our_id},
                                   "reaction": {"reaction": "like", "emoji": emoji, "action": action, "mid": mid}})


# https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/message-edits
def m_edit(mid: str, text: str, num_edit: int = 1, *, obj: str = "page", our_id: str = PAGE_ID, customer: str = PSID) -> dict[str, Any]:
    return messaging(obj, our_id, {"sender": {"id": customer}, "recipient": {"id": our_id},
                                   "message_edit": {"mid": mid, "text": text, "num_edit": num_edit}})


# https://developers.facebook.com/docs/instagram-platform/webhooks/examples (unsend: message.is_deleted)
def ig_unsend(mid: str) -> dict[str, Any]:
    return messaging("instagram", IG_USER_ID, {"sender": {"id": IGSID}, "recipient": {"id": IG_USER_ID}, "message": {"mid": mid, "is_deleted": True}})


# https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/message-reads
def m_read(watermark_ms: int) -> dict[str, Any]:
    return messaging("page", PAGE_ID, {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "read": {"watermark": watermark_ms}})


# https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/message-deliveries ("mids" may not be present)
def m_delivered_up_to(watermark_ms: int) -> dict[str, Any]:
    return messaging("page", PAGE_ID, {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "delivery": {"watermark": watermark_ms}})


# https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/messaging_referrals (Ad Referral)
M_AD_REFERRAL = messaging("page", PAGE_ID, {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "referral": {
    "ref": "spring-sale", "ad_id": "6045246247433", "source": "ADS", "type": "OPEN_THREAD",
    "ads_context_data": {"ad_title": "Spring sale at Jasper's Market", "photo_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/ad.jpg",
                         "post_id": "1234567890_9876543210"}}})
# same page (m.me Link)
M_LINK_REFERRAL = messaging("page", PAGE_ID, {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
                                              "referral": {"ref": "order-1234", "source": "SHORTLINK", "type": "OPEN_THREAD"}})

# https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages (a message after an ad click: message.referral)
M_TEXT_FROM_AD = messaging("page", PAGE_ID, {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "message": {
    "mid": "m_fromad000000000000000001", "text": "Hi, is this still available?",
    "referral": {"ref": "spring-sale", "ad_id": "6045246247433", "source": "ADS", "type": "OPEN_THREAD",
                 "ads_context_data": {"ad_title": "Spring sale at Jasper's Market", "photo_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/ad.jpg"}}}})

# https://developers.facebook.com/docs/messenger-platform/error-codes (code 10, subcode 2018278: sent outside of allowed window)
OUTSIDE_WINDOW = {"error": {"message": "(#10) This message is sent outside of allowed window. Learn more about the new policy here: "
                                       "https://developers.facebook.com/docs/messenger-platform/policy-overview",
                            "type": "OAuthException", "code": 10, "error_subcode": 2018278, "fbtrace_id": "AWm2nWq5Zf0"}}
