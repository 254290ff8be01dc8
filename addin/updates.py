"""Is a newer CRM Bridge released?  Asked of a configurable release feed; off by default.

It never downloads or installs anything: it says which version exists and where to get it,
and the installers upgrade in place.  The feed is one JSON document, either
``{"version": "0.2.0", "url": "https://..."}`` or a GitHub "latest release" object
(``{"tag_name": "v0.2.0", "html_url": "https://..."}``), so a project page or a static file
on any web server will do.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import requests

from addin import __version__
from addin.errors import BridgeError, ConfigError, OfflineError

FEED_SETTING = "general.update_feed"
_LOOPBACK = re.compile(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)")


class UpdateCheckError(BridgeError):
    title = "Cannot check for updates"


class UpdateState(StrEnum):
    OFF = "off"  # no feed configured: nothing was asked
    CURRENT = "current"
    NEWER = "newer"


@dataclass(frozen=True)
class UpdateInfo:
    state: UpdateState
    current: str
    latest: str = ""
    url: str = ""

    def message(self) -> str:
        if self.state is UpdateState.OFF:
            return "Update checks are off (no release feed is set)."
        if self.state is UpdateState.NEWER:
            return f"CRM Bridge {self.latest} is available (you have {self.current}): {self.url}"
        return f"CRM Bridge {self.current} is the newest version."


def parse_version(text: str) -> tuple[int, ...]:
    """``v1.2.3``, ``1.2`` or ``1.2.3rc1`` → (1, 2, 3); pre-release tails compare as their base."""
    match = re.fullmatch(r"v?(\d+(?:\.\d+)*)\S*", text.strip())
    if not match:
        raise ValueError(f"not a version: {text!r}")
    parts = [int(p) for p in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # 1.2.0 == 1.2
    return tuple(parts)


def _check_url(url: str) -> None:
    if not (url.startswith("https://") or _LOOPBACK.match(url)):
        raise ConfigError("The release feed must be an https:// address.")


def check(feed_url: str, current: str = __version__, timeout: float = 10.0) -> UpdateInfo:
    """Ask the feed once.  An empty ``feed_url`` asks nothing (the default)."""
    if not feed_url.strip():
        return UpdateInfo(UpdateState.OFF, current)
    _check_url(feed_url)
    try:
        response = requests.get(feed_url, timeout=timeout, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise OfflineError(f"The release feed did not answer ({type(exc).__name__}).") from None
    if response.status_code != 200:
        raise UpdateCheckError(f"The release feed answered HTTP {response.status_code}.")
    try:
        data = response.json()
    except ValueError:
        raise UpdateCheckError("The release feed did not send JSON.") from None
    if not isinstance(data, dict):
        raise UpdateCheckError("The release feed's answer has no version.")
    latest = str(data.get("version") or data.get("tag_name") or "")
    url = str(data.get("url") or data.get("html_url") or "")
    try:
        newer = parse_version(latest) > parse_version(current)
    except ValueError:
        raise UpdateCheckError(f"The release feed names no usable version ({latest[:40]!r}).") from None
    if newer and not url.startswith(("https://", "http://")):
        raise UpdateCheckError("The release feed names a newer version but no web address for it.")
    latest = latest.removeprefix("v")
    if not newer:
        return UpdateInfo(UpdateState.CURRENT, current, latest)
    return UpdateInfo(UpdateState.NEWER, current, latest, url)


def main(args: Any) -> int:
    """``crm-bridge update-check [--feed URL]``: the feed from the option or the profile's setting."""
    feed = args.feed
    if feed is None:
        from addin.config import Config

        feed = str(Config.load().profile(args.profile).get(FEED_SETTING) or "")
    info = check(feed)
    if args.json:
        print(json.dumps({**asdict(info), "state": info.state.value}, sort_keys=True))
    else:
        print(info.message())
    return 0
