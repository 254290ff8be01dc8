"""Microsoft sign-in for ``crm-bridge run``: no tray, so "Sign-in needed" is answered with a device code.

When the engine stops on an expired, revoked or missing Microsoft sign-in, a worker thread starts
the device-code sign-in and prints its instructions (open an address on any device, enter the
code).  Once the person has signed in, the bridge resumes by itself.  A code that expires unused
is replaced by a new one after a pause; a set-up problem (no client id) is reported once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from addin.bridge_types import StateChanged
from addin.errors import AuthError, BridgeError, OfflineError
from addin.signin import MicrosoftSignInNeeded, SignInMethod
from addin.state import BridgeState

log = logging.getLogger(__name__)

RETRY_PAUSE = 60.0


class HeadlessSignIn:
    """Subscribe :meth:`on_event` to the bridge; :meth:`close` stops any waiting sign-in loop."""

    def __init__(self, bridge: Any, say: Callable[[str], None], retry_pause: float = RETRY_PAUSE) -> None:
        self._bridge = bridge
        self._say = say
        self._pause = retry_pause
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def on_event(self, event: object) -> None:
        if not isinstance(event, StateChanged) or event.status.state is not BridgeState.CREDENTIALS_NEEDED:
            return
        if not isinstance(self._bridge.auth_error(), MicrosoftSignInNeeded):
            return  # a password problem: only Settings or 'crm-bridge config secret' can fix it
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(target=self._sign_in, name="headless-sign-in", daemon=True)
            self._worker.start()

    def _sign_in(self) -> None:
        while not self._stop.is_set():
            try:
                who = self._bridge.sign_in(SignInMethod.DEVICE_CODE.value, on_device_code=self._say)
            except (AuthError, OfflineError) as exc:
                self._say(f"Microsoft sign-in not completed: {exc.message}")
                self._stop.wait(self._pause)
                continue
            except BridgeError as exc:
                self._say(f"Microsoft sign-in cannot start: {exc.message}")
                return
            self._say(f"Signed in as {who}.")
            return

    def close(self) -> None:
        self._stop.set()
