"""WSGI entry point for gunicorn: ``gunicorn hub.wsgi:app``."""

from config.settings import load_settings
from hub.files import restrict_umask
from hub.logging import configure

restrict_umask()  # also when gunicorn is started directly: files it creates are 0600


def _raise_open_files_limit() -> None:
    """Each open live stream is a socket: allow as many descriptors as the hard limit lets."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


_raise_open_files_limit()

_settings = load_settings()
configure(_settings.log_level, _settings.log_format)

from hub.app import create_app  # noqa: E402
from hub.runtime import freeze_startup_heap  # noqa: E402
from hub.web.streams import keep_start_response  # noqa: E402

app = create_app(_settings)
# Live streams hand their socket to the process's stream loop instead of holding a thread.
app.wsgi_app = keep_start_response(app.wsgi_app)  # type: ignore[method-assign]  # Flask's documented way to wrap the WSGI app
# Build the queue client now (imports redis, registers the scripts; no connection yet), so
# the first webhooks do not pay for it, and it is part of the frozen startup heap.
_ = app.extensions["omnihub"].queues
freeze_startup_heap()
