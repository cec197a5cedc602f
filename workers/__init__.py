

from workers import intel as _intel  # noqa: E402,F401  registers the support-intelligence hooks
