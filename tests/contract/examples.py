"""A working example configuration for every registered connector kind (used by the
contract test). Adding an adapter means adding its example here: the test fails otherwise."""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

#: the Ed25519 key Discord would hold for the example application (tests sign interactions with it)
DISCORD_SIGNING_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))

EXAMPLES: dict[str, dict] = {
    "api": {"secret": "contract-secret", "callback_url": "http://127.0.0.1:9/cb"},
    "inbox": {},
    "email": {
        "imap_host": "imap.example.com", "username": "support@example.com", "password": "imap-secret",
        "smtp_host": "smtp.example.com", "smtp_password": "smtp-secret", "from_address": "support@example.com",
    },
    "zendesk": {"subdomain": "acme", "email": "agent@example.com", "api_token": "zd-token", "webhook_secret": "zd-whsec"},
    "freshdesk": {"domain": "acme", "api_key": "fd-key", "webhook_secret": "fd-whsec"},
    "zammad": {"base_url": "https://support.example.com", "token": "zm-token", "webhook_secret": "zm-whsec"},
    "chatwoot": {"account_id": 1, "inbox_id": 7, "api_access_token": "cw-token", "webhook_token": "cw-whtoken"},
    "helpscout": {"app_id": "hs-app", "app_secret": "hs-secret", "mailbox_id": 85, "webhook_secret": "hs-whsec"},
    "webhook": {"url": "https://example.com/hooks/omnihub", "secret": "wh-secret"},
    "slack": {
        "bot_token": "xoxb-contract-token",
        "signing_secret": "contract-signing-secret",
        "channels": "all,dm",
        "api_base_url": "http://127.0.0.1:9/api/",  # nothing listens: no call leaves the machine
    },
    "twilio": {
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "auth_token": "contract-auth-token",
        "phone_numbers": "+14155550100",
        "whatsapp_from": "+14155238886",
        "api_base_url": "http://127.0.0.1:9",
    },
    "x": {
        "consumer_key": "contract-ck",
        "consumer_secret": "contract-cs",
        "access_token": "contract-at",
        "access_token_secret": "contract-ats",
        "user_id": "4337869213",
    },
    "telegram": {
        "bot_token": "7311234567:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "secret_token": "contract-secret-token",
        "api_base_url": "http://127.0.0.1:9",  # nothing listens: no call leaves the machine
    },
    "discord": {
        "bot_token": "MTE4NzY1NDMyMTA5ODc2NTQzMg.contract.token",
        "application_id": "1187654321098765432",
        "public_key": DISCORD_SIGNING_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex(),
        "support_channel_ids": "1123456789012345678",
        "api_base_url": "http://127.0.0.1:9/api/v10",  # nothing listens: no call leaves the machine
    },
    "whatsapp": {
        "access_token": "contract-access-token",
        "app_secret": "contract-app-secret",
        "verify_token": "contract-verify-token",
        "phone_number_id": "106540352242922",
        "waba_id": "102290129340398",
        "api_base_url": "http://127.0.0.1:9",  # nothing listens: no call leaves the machine
    },
    "messenger": {
        "page_id": "1234567890",
        "page_access_token": "contract-page-token",
        "app_secret": "contract-app-secret",
        "verify_token": "contract-verify-token",
        "api_base_url": "http://127.0.0.1:9",
    },
    "instagram": {
        "ig_user_id": "17841400000000000",
        "access_token": "contract-ig-token",
        "app_secret": "contract-app-secret",
        "verify_token": "contract-verify-token",
        "api_base_url": "http://127.0.0.1:9",
    },
    "rt": {"base_url": "https://rt.example.com", "username": "omnihub", "token": "1-14-contract", "queue": "General"},
    "django_helpdesk": {
        "base_url": "https://support.example.com/helpdesk",
        "token": "contract-token",
        "queue": 1,
        "submitter_email": "customers@example.com",
    },
}
