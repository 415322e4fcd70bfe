"""A local SMTP server that keeps every e-mail it receives, for development and the demo.

    python deploy/local/mailsink.py [--port PORT] [--dir .local/mail]

Each message is stored as ``<received at>-<n>.eml`` in the folder (readable with any mail
program, or ``cat``). Nothing is relayed anywhere. Started by ``deploy/local/services.py up``
when the notifications service exists; it listens where the service sends
(``OUTREACH_SMTP_PORT``, see notifications.settings).
"""

from __future__ import annotations

import argparse
import itertools
import signal
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from notifications.settings import NotificationsSettings

ROOT = Path(__file__).resolve().parents[2]


class MailFolder:
    """aiosmtpd handler: writes each message to a file of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:  # aiosmtpd hook
        content = envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        stamp = time.strftime("%Y%m%dT%H%M%S")
        path = self.folder / f"{stamp}-{next(self._counter):04d}.eml"
        path.write_bytes(data)
        return "250 Message accepted for delivery"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=NotificationsSettings().smtp_port)
    parser.add_argument("--dir", type=Path, default=ROOT / ".local" / "mail")
    args = parser.parse_args()
    controller = Controller(MailFolder(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"mail sink on 127.0.0.1:{args.port}, storing in {args.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
