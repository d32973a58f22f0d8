"""Session and configuration messages: bootstrap, login, init, OTP, password, notify, account opening."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymt5_core.errors import EncodeError, ProtocolError
from pymt5_core.wire import debug
from pymt5_core.wire.frames import TOKEN_SIZE
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.records import Record, build_counted, read_counted, records, unpack_record

__all__ = [
    "PASSWORD_BLOB_SIZE",
    "AccountDocument",
    "build_bootstrap_request",
    "build_bootstrap_response",
    "build_change_password_request",
    "build_change_password_response",
    "build_corporate_links",
    "build_init_request",
    "build_link_state",
    "build_login_request",
    "build_login_response",
    "build_notify_request",
    "build_open_account_request",
    "build_open_account_response",
    "build_open_real_account_request",
    "build_otp_request",
    "build_trader_params",
    "build_verification_request",
    "build_verification_response",
    "client_id",
    "read_bootstrap_request",
    "read_bootstrap_response",
    "read_change_password_request",
    "read_change_password_response",
    "read_corporate_links",
    "read_init_request",
    "read_link_state",
    "read_login_request",
    "read_login_response",
    "read_notify_request",
    "read_open_account_request",
    "read_open_account_response",
    "read_open_real_account_request",
    "read_otp_request",
    "read_trader_params",
    "read_verification_request",
    "read_verification_response",
    "split_password",
]

PASSWORD_BLOB_SIZE = 160
_LOGIN = LAYOUTS["LoginRequest"]
_OTP = LAYOUTS["OtpRequest"]


def client_id(fingerprint: str) -> bytes:
    """The 16-byte client id (SPEC §2.14): the first 16 bytes of SHA-1 over the fingerprint string.

    ``fingerprint`` is ``"PLATFORM;PIXELRATIO;LANGUAGE;LONGxSHORT;UNIQ"``.
    """
    return hashlib.sha1(fingerprint.encode("utf-8")).digest()[:16]


# --- bootstrap (§2.6) -------------------------------------------------------------------------------


def build_bootstrap_request(token: bytes = bytes(TOKEN_SIZE)) -> bytes:
    """The bootstrap payload: the 64-byte token (zeros on a first connection)."""
    if len(token) != TOKEN_SIZE:
        raise EncodeError("token must be 64 bytes")
    return bytes(token)


def read_bootstrap_request(payload: bytes) -> bytes:
    """The token of a bootstrap request.

    Raises:
        ProtocolError: the payload is not 64 bytes.
    """
    if len(payload) != TOKEN_SIZE:
        raise ProtocolError(f"bootstrap request of {len(payload)} bytes (expected 64)")
    return bytes(payload)


def build_bootstrap_response(token: bytes, key: bytes) -> bytes:
    """Bootstrap answer body: 2 reserved zero bytes, the new token, then the raw session key."""
    if len(token) != TOKEN_SIZE:
        raise EncodeError("token must be 64 bytes")
    return bytes(2) + bytes(token) + bytes(key)


def read_bootstrap_response(body: bytes | memoryview) -> tuple[bytes, bytes]:
    """Return ``(token, session_key)`` from a bootstrap answer body.

    Raises:
        ProtocolError: too short to hold a token and a key.
    """
    if len(body) <= 2 + TOKEN_SIZE:
        raise ProtocolError(f"bootstrap response of {len(body)} bytes carries no key")
    return bytes(body[2 : 2 + TOKEN_SIZE]), bytes(body[2 + TOKEN_SIZE :])


# --- login (§5.2), init (§5.27) ---------------------------------------------------------------------


def split_password(password: str) -> tuple[str, bytes]:
    """Apply the official password rule: a 320-hex-character string is a password blob.

    Returns:
        ``(plain_password, blob)``: one of them is empty (the blob then 160 zero bytes).
    """
    if len(password) == 2 * PASSWORD_BLOB_SIZE:
        try:
            return "", bytes.fromhex(password)
        except ValueError:
            pass
    return password[:32], bytes(PASSWORD_BLOB_SIZE)


def _login_head(
    password: str, otp: str, cid: bytes, url: str, utm_campaign: str, utm_source: str, version: int
) -> dict[str, Any]:
    if len(cid) != 16:
        raise EncodeError(f"client id must be 16 bytes, not {len(cid)}")
    return {
        "version": version,
        "password": password[:32],
        "otp": otp[:64],
        "cid": cid,
        "utm_campaign": utm_campaign[:32],
        "utm_source": utm_source[:32],
        "lead_cookie_id": 0,
        "lead_affiliate_site": "",
        "url_length": min(len(url), 128),
        "url": url[:128],
    }


def build_login_request(
    login: int,
    password: str = "",
    *,
    otp: str = "",
    cid: bytes = bytes(16),
    session: int = 0,
    url: str = "",
    utm_campaign: str = "",
    utm_source: str = "",
    version: int = 0,
) -> bytes:
    """The 912-byte login payload; ``password`` may be the 320-character hex blob of a previous login."""
    plain, blob = split_password(password)
    values = _login_head(plain, otp, cid, url, utm_campaign, utm_source, version)
    values.update(login=login, password_blob=blob, session=session)
    return _LOGIN.pack_dict(values)


def read_login_request(payload: bytes) -> Record:
    """Decode a login payload into a dict of LoginRequest fields.

    Raises:
        ProtocolError: shorter than 912 bytes.
    """
    if len(payload) < _LOGIN.size:
        raise ProtocolError(f"login request of {len(payload)} bytes (expected {_LOGIN.size})")
    if debug.ENABLED:
        debug.check_body("read_login_request", len(payload), _LOGIN.size)
    return _LOGIN.unpack_dict(payload)


def build_login_response(password_blob: bytes, session: int) -> bytes:
    """Login answer body: the 160-byte credential and the session id."""
    if len(password_blob) != PASSWORD_BLOB_SIZE:
        raise EncodeError("password blob must be 160 bytes")
    return LAYOUTS["LoginResponse"].pack([password_blob, session])


def read_login_response(body: bytes | memoryview) -> tuple[bytes, int]:
    """Return ``(password_blob, session)``.

    Raises:
        ProtocolError: shorter than 168 bytes.
    """
    if len(body) < LAYOUTS["LoginResponse"].size:
        raise ProtocolError(f"login response of {len(body)} bytes (expected 168)")
    if debug.ENABLED:
        debug.check_body("read_login_response", len(body), LAYOUTS["LoginResponse"].size)
    blob, session = LAYOUTS["LoginResponse"].unpack(body)
    return blob, session


def build_init_request(
    cid: bytes = bytes(16), *, password: str = "", otp: str = "", version: int = 0
) -> bytes:
    """The 744-byte init payload of the configuration connection (every field empty but ``cid``)."""
    values = _login_head(password, otp, cid, "", "", "", version)
    values["reserved"] = 0
    return LAYOUTS["InitRequest"].pack_dict(values)


def read_init_request(payload: bytes) -> Record:
    """Decode an init payload.

    Raises:
        ProtocolError: shorter than 744 bytes.
    """
    if len(payload) < LAYOUTS["InitRequest"].size:
        raise ProtocolError(f"init request of {len(payload)} bytes (expected 744)")
    if debug.ENABLED:
        debug.check_body("read_init_request", len(payload), LAYOUTS["InitRequest"].size)
    return LAYOUTS["InitRequest"].unpack_dict(payload)


# --- OTP (§5.33) ------------------------------------------------------------------------------------


def build_otp_request(
    login: int,
    password: str = "",
    *,
    otp: str = "",
    otp_secret: str = "",
    otp_secret_check: str = "",
    cid: bytes = bytes(16),
) -> bytes:
    """The OTP bind/unbind payload: 476 bytes, or 636 when ``password`` is a 320-hex blob."""
    plain, blob = split_password(password)
    is_blob = not plain and any(blob)
    values = {
        "version": 5,
        "login": login,
        "password": plain,
        "otp": otp[:64],
        "otp_secret": otp_secret[:64],
        "otp_secret_check": otp_secret_check[:64],
        "cid": cid,
        "password_blob": blob,
    }
    packed = _OTP.pack_dict(values)
    return packed if is_blob else packed[: _OTP.size - PASSWORD_BLOB_SIZE]


def read_otp_request(payload: bytes) -> Record:
    """Decode an OTP payload; ``password_blob`` is None for the 476-byte form.

    Raises:
        ProtocolError: shorter than 476 bytes.
    """
    if len(payload) < _OTP.size - PASSWORD_BLOB_SIZE:
        raise ProtocolError(f"OTP request of {len(payload)} bytes (expected 476 or 636)")
    if debug.ENABLED:  # the password blob is either absent or whole
        debug.check_body("read_otp_request", len(payload), _OTP.size - PASSWORD_BLOB_SIZE
                         if len(payload) == _OTP.size - PASSWORD_BLOB_SIZE else _OTP.size)
    return _OTP.unpack_dict(payload[: _OTP.size])


# --- password, notify, trader params, link state ----------------------------------------------------


def build_change_password_request(new_password: str, old_password: str, investor: bool = False) -> bytes:
    """The 129-byte change-password payload."""
    return LAYOUTS["ChangePasswordRequest"].pack([int(investor), new_password[:32], old_password[:32]])


def read_change_password_request(payload: bytes) -> Record:
    """Decode a change-password payload.

    Raises:
        ProtocolError: shorter than 129 bytes.
    """
    _need(payload, "ChangePasswordRequest", "read_change_password_request")
    return LAYOUTS["ChangePasswordRequest"].unpack_dict(payload)


def build_change_password_response(result: int) -> bytes:
    """Change-password answer: 0 = changed."""
    return LAYOUTS["ChangePasswordResponse"].pack([result])


def read_change_password_response(body: bytes) -> int:
    """The result of a change-password answer."""
    _need(body, "ChangePasswordResponse", "read_change_password_response")
    result: int = LAYOUTS["ChangePasswordResponse"].unpack(body)[0]
    return result


def build_notify_request(value: int = 1) -> bytes:
    """The notify payload (1 = risk warning accepted)."""
    return LAYOUTS["NotifyRequest"].pack([value])


def read_notify_request(payload: bytes) -> int:
    """The value of a notify payload."""
    _need(payload, "NotifyRequest", "read_notify_request")
    value: int = LAYOUTS["NotifyRequest"].unpack(payload)[0]
    return value


def build_trader_params(country: str, currency: str) -> bytes:
    """Trader parameters answer (command 41)."""
    return LAYOUTS["TraderParamsResponse"].pack([country[:16], currency[:16]])


def read_trader_params(body: bytes) -> tuple[str, str]:
    """Return ``(country, currency)``."""
    _need(body, "TraderParamsResponse", "read_trader_params")
    country, currency = LAYOUTS["TraderParamsResponse"].unpack(body)
    return country, currency


def build_link_state(state: int) -> bytes:
    """Push 15 body: 0 = trade server connected."""
    return LAYOUTS["LoginStatusPush"].pack([state])


def read_link_state(body: bytes) -> int:
    """The state of push 15 (0 = connected).

    Raises:
        ProtocolError: the body is not a non-empty multiple of 4 bytes.
    """
    if not body or len(body) % 4:
        raise ProtocolError(f"link state push of {len(body)} bytes (expected a multiple of 4)")
    if debug.ENABLED:
        debug.check_body("read_link_state", len(body), LAYOUTS["LoginStatusPush"].size)
    state: int = LAYOUTS["LoginStatusPush"].unpack(body)[0]
    return state


def build_corporate_links(links: Sequence[Mapping[str, Any]]) -> bytes:
    """Command 44 answer: counted CorporateLink records."""
    return build_counted("CorporateLink", links)


def read_corporate_links(body: bytes) -> list[Record]:
    """Decode command 44: a list of CorporateLink dicts."""
    arr, end = read_counted("CorporateLink", body)
    if debug.ENABLED:
        debug.check_body("read_corporate_links", len(body), end)
    return [
        {**rec, "reserved": bytes(rec["reserved"])} for rec in records(arr)
    ]


# --- account opening (§5.29-5.32) -------------------------------------------------------------------

_BASE = LAYOUTS["AccountOpeningBase"]
_EXT = LAYOUTS["RealAccountExtension"]
_DOC = LAYOUTS["AccountDocument"]
_VHEAD = LAYOUTS["VerificationRequestHeader"]


@dataclass(frozen=True, slots=True)
class AccountDocument:
    """A document attached to a real-account request (command 39)."""

    data_type: int
    document_type: int
    front_name: str
    front: bytes
    back_name: str = ""
    back: bytes = b""

    def __repr__(self) -> str:
        return f"AccountDocument({self.front_name!r}, {len(self.front)} B, {self.back_name!r}, {len(self.back)} B)"


_BASE_DEFAULTS: dict[str, Any] = {"deposit": 100000.0, "leverage": 100, "reserved0": 0, "reserved1": 1}


def _base_values(form: Mapping[str, Any]) -> dict[str, Any]:
    values = {**_BASE_DEFAULTS, **form}
    if "name" not in form:
        first, second = values.get("first_name", ""), values.get("second_name", "")
        values["name"] = f"{first} {second}"
    for f in _BASE.spec:
        v = values.get(f.name)
        if isinstance(v, str):
            values[f.name] = v[: f.size // 2]
    return values


def build_open_account_request(form: Mapping[str, Any]) -> bytes:
    """AccountOpeningBase (1664 bytes) from a dict of its fields; used by commands 30 and 40.

    ``name`` defaults to ``first_name + " " + second_name``, ``deposit`` to 100000, ``leverage`` to 100.
    """
    return _BASE.pack_dict(_base_values(form))


def read_open_account_request(payload: bytes) -> Record:
    """Decode an AccountOpeningBase payload."""
    _need(payload, "AccountOpeningBase", "read_open_account_request")
    return _BASE.unpack_dict(payload)


def build_verification_request(form: Mapping[str, Any], build: int = 0, cid: bytes = bytes(16)) -> bytes:
    """Command 27 payload: VerificationRequestHeader + AccountOpeningBase."""
    return _VHEAD.pack([build, cid]) + build_open_account_request(form)


def read_verification_request(payload: bytes) -> tuple[int, bytes, Record]:
    """Return ``(build, cid, form)`` of a command 27 payload."""
    if len(payload) < _VHEAD.size + _BASE.size:
        raise ProtocolError(f"verification request of {len(payload)} bytes (expected 1682)")
    if debug.ENABLED:
        debug.check_body("read_verification_request", len(payload), _VHEAD.size + _BASE.size)
    build, cid = _VHEAD.unpack(payload)
    return build, cid, _BASE.unpack_dict(payload, _VHEAD.size)


def build_open_real_account_request(
    form: Mapping[str, Any], kyc: Mapping[str, Any], documents: Sequence[AccountDocument] = ()
) -> bytes:
    """Command 39 payload: AccountOpeningBase + RealAccountExtension + documents with their contents."""
    ext = {f.name: v[: f.size // 2] if isinstance(v := kyc[f.name], str) else v for f in _EXT.spec if f.name in kyc}
    parts = [build_open_account_request(form), _EXT.pack_dict(ext)]
    for doc in documents:
        parts.append(
            _DOC.pack([doc.data_type, doc.document_type, doc.front_name[:260], len(doc.front),
                       doc.back_name[:260], len(doc.back)])
        )
        parts += [doc.front, doc.back]
    return b"".join(parts)


def read_open_real_account_request(payload: bytes) -> tuple[Record, Record, list[AccountDocument]]:
    """Return ``(form, kyc, documents)`` of a command 39 payload.

    Raises:
        ProtocolError: too short, or a document's sizes run past the end.
    """
    if len(payload) < _BASE.size + _EXT.size:
        raise ProtocolError(f"real account request of {len(payload)} bytes (expected at least 2948)")
    form = _BASE.unpack_dict(payload)
    kyc = _EXT.unpack_dict(payload, _BASE.size)
    docs: list[AccountDocument] = []
    pos = _BASE.size + _EXT.size
    while pos < len(payload):
        if pos + _DOC.size > len(payload):
            raise ProtocolError("document header runs past the end of the payload")
        dt, kind, fname, fsize, bname, bsize = _DOC.unpack(payload, pos)
        pos += _DOC.size
        if pos + fsize + bsize > len(payload):
            raise ProtocolError("document contents run past the end of the payload")
        docs.append(AccountDocument(dt, kind, fname, payload[pos : pos + fsize], bname,
                                    payload[pos + fsize : pos + fsize + bsize]))
        pos += fsize + bsize
    return form, kyc, docs


def build_open_account_response(result: int, login: int = 0, password: str = "", investor: str = "") -> bytes:
    """OpenAccountResponse (commands 30, 39)."""
    return LAYOUTS["OpenAccountResponse"].pack([result, login, password[:16], investor[:16]])


def read_open_account_response(body: bytes) -> Record:
    """Decode OpenAccountResponse into ``result, login, password, investor_password``."""
    _need(body, "OpenAccountResponse", "read_open_account_response")
    return unpack_record("OpenAccountResponse", body)


def build_verification_response(email: int, phone: int) -> bytes:
    """VerificationResponse (commands 27, 40)."""
    return LAYOUTS["VerificationResponse"].pack([email, phone])


def read_verification_response(body: bytes) -> tuple[int, int]:
    """Return ``(email_flag, phone_flag)``."""
    _need(body, "VerificationResponse", "read_verification_response")
    email, phone = LAYOUTS["VerificationResponse"].unpack(body)
    return email, phone


def _need(body: bytes, name: str, reader: str) -> None:
    """Check that ``body`` holds one ``name`` record (and, under ``PYMT5_DEBUG``, nothing more)."""
    size = LAYOUTS[name].size
    if len(body) < size:
        raise ProtocolError(f"{name} of {len(body)} bytes (expected {size})")
    if debug.ENABLED:
        debug.check_body(reader, len(body), size)

