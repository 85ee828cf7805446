"""Send the run summary to the Apprise URLs the user configured; never log the URLs themselves."""

from __future__ import annotations

import logging

import apprise
from pydantic import SecretStr

log = logging.getLogger(__name__)


def notify(urls: tuple[SecretStr, ...], title: str, body: str) -> bool:
    """Deliver to every URL; True when all accepted it. Failures are logged without the URL."""
    if not urls:
        return True
    sender = apprise.Apprise()
    for secret in urls:
        url = secret.get_secret_value()
        if not sender.add(url):
            log.warning("a notification URL could not be parsed (scheme %s)", url.split(":", 1)[0])
    delivered = bool(len(sender)) and sender.notify(title=title, body=body)
    if not delivered:
        log.warning("notification could not be delivered to every configured target")
    return delivered
