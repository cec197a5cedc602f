"""A working example configuration for every registered connector kind (used by the
contract test). Adding an adapter means adding its example here: the test fails otherwise."""

EXAMPLES: dict[str, dict] = {
    "api": {"secret": "contract-secret", "callback_url": "http://127.0.0.1:9/cb"},
    "inbox": {},
    "rt": {"base_url": "https://rt.example.com", "username": "omnihub", "token": "1-14-contract", "queue": "General"},
    "django_helpdesk": {
        "base_url": "https://support.example.com/helpdesk",
        "token": "contract-token",
        "queue": 1,
        "submitter_email": "customers@example.com",
    },
}
