"""gunicorn's access and error logs without URL credentials.

``omnihub web`` runs gunicorn with ``--logger-class hub.weblog.MaskingLogger``: every line
of its access and error logs (request lines, referers, "Error handling request /media/...",
tracebacks) passes through ``hub.logging.mask_url_secrets``, so a /media/<token> URL, which
lets anyone holding it fetch an attachment for a day, is never written to a log.
"""

from __future__ import annotations

import logging

from gunicorn.glogging import Logger

from hub.logging import mask_url_secrets


class MaskUrlSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_url_secrets(record.getMessage())
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_url_secrets(logging.Formatter().formatException(record.exc_info))
        return True


class MaskingLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            if not any(isinstance(f, MaskUrlSecrets) for f in logger.filters):
                logger.addFilter(MaskUrlSecrets())
