"""The tray application: time to its first sign of life, resident memory and idle CPU.

The real tray (``ui.app.main``) runs in a process of its own on a bridge connected to the
sandboxes (started here, with the injected latency), so its engine polls and watches while it
idles. Three desktops:

- ``xvfb_tray_panel``: Xvfb with trayer (an XEmbed tray panel); up = the icon is docked in the
  panel (read with ``xwininfo``, as any X client sees it).
- ``xvfb_no_tray``: Xvfb alone (a desktop without a tray); up = the Track window exists.
- ``offscreen``: Qt's offscreen platform (no tray either); up = the app says it runs in the Track
  window (its stderr line, printed as the window opens).

Every start is ``--minimized``, as autostart at login starts it: without a tray the app must
then open its Track window by itself. Memory is read from ``/proc``: resident set (VmRSS) and
unique set (Private_Clean + Private_Dirty of ``smaps_rollup``); CPU is the process's user +
system time over the idle window.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from addin.demo import DEMO_PASSWORD, SANDBOX_TOKEN, USER
from addin.sandbox.crm import CrmSandbox
from addin.sandbox.mail import MailSandbox
from tests.x11_windows import ANY_INSTANCE, TRAY_PANEL, tray_icon_in_panel, windows

# Started with ``python -m``, the app's instance name is not the installed command's.
TRACK_WINDOW = re.compile(r'"Track in CRM": \("[^"]*" "CRM Bridge"\)')

ROOT = Path(__file__).resolve().parents[2]
UP_WITHIN = 60.0
TICKS = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def uss_mb(pid: int) -> float:
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    # Fields after the command name (which may hold spaces): utime and stime are 14th and 15th.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        number = reader.readline().strip()
    if not number.isdigit():
        server.kill()
        raise RuntimeError("Xvfb did not start")
    return server, f":{number}"


def _wait(up: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + UP_WITHIN
    while not up():
        if proc.poll() is not None:
            raise RuntimeError(f"the tray app ended with {proc.returncode} before {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {UP_WITHIN:.0f} s")
        time.sleep(0.05)


def measure_one(
    mode: str, crm: CrmSandbox, mail: MailSandbox, home: Path, idle_seconds: float
) -> dict[str, Any]:
    display: str | None = None
    xvfb: subprocess.Popen[bytes] | None = None
    panel: subprocess.Popen[bytes] | None = None
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
        path = home / mode / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
        env[name] = str(path)
    env["CRM_BRIDGE_HOME"] = str(home / mode / "crm-bridge")
    env["PYTHONPATH"] = str(ROOT)
    try:
        if mode == "offscreen":
            env["QT_QPA_PLATFORM"] = "offscreen"
        else:
            xvfb, display = start_xvfb()
            env["DISPLAY"] = display
            if mode == "xvfb_tray_panel":
                panel = subprocess.Popen(
                    [
                        "trayer",
                        "--edge",
                        "top",
                        "--align",
                        "right",
                        "--widthtype",
                        "pixel",
                        "--width",
                        "160",
                        "--height",
                        "32",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                deadline = time.monotonic() + 30
                while TRAY_PANEL not in windows(display):
                    if time.monotonic() > deadline or panel.poll() is not None:
                        raise RuntimeError("the tray panel (trayer) did not appear")
                    time.sleep(0.1)
        args = [
            sys.executable,
            "-m",
            "tests.benchmarks.bench_tray",
            crm.origin,
            mail.ews_url,
            str(home / mode / "bridge"),
            "--minimized",  # as autostart starts it
        ]
        said_no_tray = threading.Event()
        started = time.monotonic()
        app = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )

        def read_stderr() -> None:
            assert app.stderr is not None
            for line in app.stderr:
                if b"no system tray" in line:
                    said_no_tray.set()

        threading.Thread(target=read_stderr, daemon=True).start()
        try:
            if mode == "xvfb_tray_panel":
                assert display is not None
                _wait(
                    lambda: tray_icon_in_panel(windows(display), ANY_INSTANCE),
                    app,
                    "the icon docked in the tray panel",
                )
            elif mode == "xvfb_no_tray":
                assert display is not None
                _wait(lambda: bool(TRACK_WINDOW.search(windows(display))), app, "the Track window")
            else:
                _wait(said_no_tray.is_set, app, "the Track window")
            startup = time.monotonic() - started
            time.sleep(1.0)
            rss_start = rss_mb(app.pid)
            cpu0, wall0 = cpu_seconds(app.pid), time.monotonic()
            time.sleep(idle_seconds)
            idle_cpu = 100 * (cpu_seconds(app.pid) - cpu0) / (time.monotonic() - wall0)
            return {
                "startup_seconds": round(startup, 2),
                "rss_mb_start": round(rss_start, 1),
                "rss_mb_idle": round(rss_mb(app.pid), 1),
                "uss_mb_idle": round(uss_mb(app.pid), 1),
                "idle_cpu_percent": round(idle_cpu, 3),
                "idle_window_seconds": idle_seconds,
            }
        finally:
            if app.poll() is None:
                app.send_signal(signal.SIGTERM)
            try:
                app.wait(timeout=60)
            except subprocess.TimeoutExpired:
                app.kill()
                app.wait()
    finally:
        for proc in (panel, xvfb):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def run(
    root: Path, idle_seconds: float, short_idle_seconds: float, latency_ms: int
) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    modes: dict[str, Any] = {}
    crm = CrmSandbox(data_dir=root / "crm", seed="demo", latency_ms=latency_ms).start()
    mail = MailSandbox(data_dir=root / "mail", seed="demo", latency_ms=latency_ms).start()
    try:
        for mode in ("xvfb_tray_panel", "xvfb_no_tray", "offscreen"):
            missing = [
                t for t in ("Xvfb", "trayer", "xwininfo") if mode != "offscreen" and shutil.which(t) is None
            ]
            if missing:
                errors[f"tray.{mode}"] = f"{', '.join(missing)} not installed (scripts/system-packages.txt)"
                continue
            idle = idle_seconds if mode == "xvfb_tray_panel" else short_idle_seconds
            try:
                modes[mode] = measure_one(mode, crm, mail, root / "home", idle)
            except Exception as exc:  # one desktop's trouble is reported; the others still run
                errors[f"tray.{mode}"] = f"{type(exc).__name__}: {exc}"
    finally:
        mail.stop()
        crm.stop()
    main = modes.get("xvfb_tray_panel", {})
    bare = modes.get("xvfb_no_tray") or modes.get("offscreen") or {}
    summary: dict[str, Any] = {
        "startup_seconds": main.get("startup_seconds"),
        "startup_seconds_no_tray": bare.get("startup_seconds"),
        "rss_mb_start": main.get("rss_mb_start"),
        "rss_mb_idle": main.get("rss_mb_idle"),
        "uss_mb_idle": main.get("uss_mb_idle"),
        "idle_cpu_percent": main.get("idle_cpu_percent"),
        "modes": modes,
    }
    return summary, errors


def app_main(crm_origin: str, ews_url: str, data_dir: str, *argv: str) -> int:
    """Runs in the tray's own process: the real tray on a bridge connected to the sandboxes."""
    from addin.bridge import Bridge, MemorySecrets
    from addin.config import Profile
    from ui.app import main

    profile = Profile("bench")
    profile.update(
        {
            "mailbox.backend": "ews",
            "mailbox.email": USER,
            "mailbox.server": ews_url,
            "mailbox.auth": "basic",
            "crm.url": crm_origin,
            "crm.auth": "bearer",
        }
    )
    bridge = Bridge(
        profile,
        secrets=MemorySecrets({"mailbox": DEMO_PASSWORD, "crm": SANDBOX_TOKEN}),
        data_dir=Path(data_dir),
    )
    try:
        return int(main(list(argv), bridge=bridge))
    finally:
        bridge.stop()


if __name__ == "__main__":
    sys.exit(app_main(*sys.argv[1:]))
