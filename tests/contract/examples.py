"""A working example configuration for every registered connector kind (used by the
contract test). Adding an adapter means adding its example here: the test fails otherwise."""

EXAMPLES: dict[str, dict] = {
    "api": {"secret": "contract-secret", "callback_url": "http://127.0.0.1:9/cb"},
    "inbox": {},
}
