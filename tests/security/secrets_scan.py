"""Every form in which a secret could leak, and a scanner for text, bytes and log records."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pymt5_core.sim.auth import Authenticator, LoginOutcome

_FORMATTER = logging.Formatter("%(name)s %(levelname)s %(message)s")


@dataclass
class Secrets:
    """The secrets of a test run in every encoding worth looking for.

    Passwords are searched verbatim and as UTF-16LE (the wire encoding); numeric OTPs only where they
    are not part of a longer number (a price or ticket may contain the same digits); blobs by their first
    bytes as lowercase and uppercase hex, standard and URL-safe base64 and the inside of their ``bytes`` repr.
    """

    texts: set[str] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)
    blobs: list[bytes] = field(default_factory=list)

    def password(self, *values: str) -> None:
        self.texts.update(values)

    def otp(self, *codes: str) -> None:
        for code in codes:
            (self.numbers if code.isdigit() else self.texts).add(code)

    def blob(self, *blobs: bytes) -> None:
        for blob in blobs:
            self.blobs.append(blob)
            # prefixes, so that a shortened form (a hex dump cut at 64 bytes, say) is caught as well
            head = blob[:24]
            self.texts.update({
                head[:16].hex(), head[:16].hex().upper(), base64.b64encode(head).decode(),
                base64.urlsafe_b64encode(head).decode(), repr(blob)[2:42],
            })

    def find(self, text: str) -> list[str]:
        """The secrets present in ``text``."""
        found = [s for s in self.texts if s and s in text]
        found += [n for n in self.numbers if re.search(rf"(?<![0-9.]){re.escape(n)}(?!\.?[0-9])", text)]
        return found

    def find_bytes(self, data: bytes) -> list[str]:
        """The secrets present in raw bytes (as UTF-8 or UTF-16LE text, or the blobs themselves)."""
        found = self.find(data.decode("utf-8", "replace"))
        found += [s for s in self.texts | self.numbers if s.encode("utf-16-le") in data]
        found += [b.hex()[:16] for b in self.blobs if b in data]
        return found

    def find_in_records(self, records: Iterable[logging.LogRecord]) -> list[tuple[str, str]]:
        """``(logger, secret)`` for every log record that shows a secret, message, arguments or traceback."""
        out = []
        for record in records:
            text = _FORMATTER.format(record) + repr(record.args) + str(getattr(record, "conn", ""))
            if record.exc_info:
                text += _FORMATTER.formatException(record.exc_info)
            out += [(record.name, s) for s in self.find(text)]
        return out


def record_issued_blobs(auth: Authenticator, secrets: Secrets) -> None:
    """Wrap ``auth.login`` so that every blob the simulator issues joins ``secrets``."""
    login = auth.login

    def recording(request: object, peer: str = "") -> LoginOutcome:
        outcome = login(request, peer)  # type: ignore[arg-type]
        if outcome.blob:
            secrets.blob(outcome.blob)
        return outcome

    auth.login = recording  # type: ignore[method-assign]
