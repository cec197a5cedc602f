"""A working example configuration for every registered connector kind (used by the
contract test). Adding an adapter means adding its example here: the test fails otherwise."""

EXAMPLES: dict[str, dict] = {
    "api": {"secret": "contract-secret", "callback_url": "http://127.0.0.1:9/cb"},
    "inbox": {},
    "email": {
        "imap_host": "imap.example.com", "username": "support@example.com", "password": "imap-secret",
        "smtp_host": "smtp.example.com", "smtp_password": "smtp-secret", "from_address": "support@example.com",
    },
}
