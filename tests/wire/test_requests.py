"""Every request vector: our builder, fed the official builder's input, writes the official bytes; our reader
gives back what the official field parser read from them.

The official builders take one JavaScript object; ours take Python arguments. The small ``*_args``
helpers below translate a case ``input`` (plus ``page_query`` and ``cid``) into our call, and document every
convenience of the official builder that we leave to the caller (e.g. minutes-to-period-code, ms-to-seconds).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from pymt5_core.errors import EncodeError
from pymt5_core.wire import LAYOUTS
from pymt5_core.wire.enums import Period
from pymt5_core.wire.messages import (
    AccountDocument,
    build_change_password_request,
    build_history_request,
    build_id_list,
    build_init_request,
    build_login_request,
    build_notify_request,
    build_open_account_request,
    build_open_real_account_request,
    build_otp_request,
    build_rates_request,
    build_trade_request,
    build_verification_request,
    read_change_password_request,
    read_history_request,
    read_id_list,
    read_init_request,
    read_login_request,
    read_notify_request,
    read_open_account_request,
    read_open_real_account_request,
    read_otp_request,
    read_rates_request,
    read_trade_request,
    read_verification_request,
)

VECTORS = Path(__file__).parents[1] / "data" / "vectors"


def load_vector(name: str) -> Any:
    return json.loads((VECTORS / f"{name}.json").read_text())


# --- translating official inputs and outputs ----------------------------------------------------------


def js(value: Any) -> Any:
    """Unwrap the vectors' tagged JavaScript values: ``$bigint`` -> int, ``$bytes`` -> bytes."""
    if isinstance(value, dict) and "$bigint" in value:
        return int(value["$bigint"])
    if isinstance(value, dict) and "$bytes" in value:
        return bytes.fromhex(value["$bytes"])
    if isinstance(value, dict):
        return {k: js(v) for k, v in value.items()}
    if isinstance(value, list):
        return [js(v) for v in value]
    return value


def snake(name: str) -> str:
    """``mt_firstName`` -> ``first_name`` (the official form keys to our field names)."""
    name = name.removeprefix("mt_")
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def utm(page_query: str) -> dict[str, str]:
    """The utm parameters the official builder reads from the page URL (URL-decoded)."""
    query = parse_qs(page_query.lstrip("?"))
    return {k: v[0] for k, v in query.items() if k in ("utm_campaign", "utm_source")}


def wire_value(prop_type: int, value: Any) -> Any:
    """A vector ``parsed`` value in our Python convention."""
    if value is None:
        return None
    if prop_type in (17, 18):
        return int(value)
    if prop_type == 12:
        return bytes.fromhex(value)
    return value


def assert_fields_match(got: Mapping[str, Any], fields: Sequence[Mapping[str, Any]], parsed: Sequence[Any]) -> None:
    """Compare a decoded dict to the official parser's positional values, field by field."""
    bad = []
    for field, want in zip(fields, parsed, strict=False):
        expected = wire_value(field["propType"], want)
        value = got[field["name"]]
        same = math.isnan(value) if isinstance(expected, float) and math.isnan(expected) else value == expected
        if not same:
            bad.append((field["name"], value, expected))
    assert not bad


def _cases(name: str) -> list[Any]:
    doc = load_vector(name)
    return [pytest.param(doc, case, id=case["label"]) for case in doc["cases"]]


def check_case(doc: Mapping[str, Any], case: Mapping[str, Any], build: Callable[[], bytes]) -> bytes:
    """Build, compare with ``hex`` (or expect the documented error) and return the payload."""
    if "throws" in case:
        with pytest.raises((EncodeError, ValueError)):
            build()
        return b""
    payload = build()
    assert payload.hex() == case["hex"]
    assert len(payload) == case["length"] == doc.get("size", case["length"])
    return payload


# --- command 28 login ---------------------------------------------------------------------------------


def login_args(case: Mapping[str, Any]) -> dict[str, Any]:
    given = js(case["input"])
    return {
        "login": int(given.get("login") or 0),  # the official builder also takes the login as a string
        "password": given.get("password") or "",
        "otp": given.get("otp") or "",
        "session": given.get("session") or 0,
        "url": given.get("url") or "",
        "cid": bytes.fromhex(case["cid"]),
        **utm(case.get("page_query", "")),
    }


@pytest.mark.parametrize(("doc", "case"), _cases("login_request"))
def test_login_request_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    payload = check_case(doc, case, lambda: build_login_request(**login_args(case)))
    assert_fields_match(read_login_request(payload), doc["fields"], case["parsed"])


def test_login_request_with_a_320_hex_password_sends_it_as_the_blob_and_no_password() -> None:
    blob = bytes(range(160))
    got = read_login_request(build_login_request(1, blob.hex()))
    assert (got["password"], got["password_blob"]) == ("", blob)


def test_login_request_with_a_cid_of_the_wrong_length_raises_encode_error() -> None:
    with pytest.raises(EncodeError):
        build_login_request(1, "pw", cid=bytes(15))


# --- command 24 change password, command 42 notify ----------------------------------------------------


@pytest.mark.parametrize(("doc", "case"), _cases("change_password_request"))
def test_change_password_request_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    given = case["input"]
    payload = check_case(doc, case, lambda: build_change_password_request(
        given.get("newPassword", ""), given.get("oldPassword", ""), bool(given.get("isInvestor"))
    ))
    assert_fields_match(read_change_password_request(payload), doc["fields"], case["parsed"])


@pytest.mark.parametrize(("doc", "case"), _cases("notify_request"))
def test_notify_request_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    # The official builder writes 0 for an absent value; ours defaults to 1 ("risk warning accepted"),
    # the value a caller means, so an absent input is passed as an explicit 0 here.
    value = case["input"] if case["input"] is not None else 0
    payload = check_case(doc, case, lambda: build_notify_request(value))
    assert read_notify_request(payload) == wire_value(doc["fields"][0]["propType"], case["parsed"][0])


def test_notify_request_defaults_to_accepting_the_risk_warning() -> None:
    assert read_notify_request(build_notify_request()) == 1


# --- id lists (commands 7, 18, 20, 22) ----------------------------------------------------------------


@pytest.mark.parametrize(("doc", "case"), _cases("symbol_id_list_request"))
def test_symbol_id_list_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    payload = check_case(doc, case, lambda: build_id_list(case["input"]))
    assert read_id_list(payload) == case["input"]


@pytest.mark.parametrize("ids", [[-1], [2**32], [1.5], [True]])
def test_symbol_id_list_rejects_ids_that_are_not_u32(ids: list[Any]) -> None:
    with pytest.raises(EncodeError):
        build_id_list(ids)


# --- command 11 rates ---------------------------------------------------------------------------------

#: The official builder takes minutes; periods it does not know become code 0.
PERIOD_BY_MINUTES = {p.minutes: int(p) for p in Period}


def rates_args(given: Mapping[str, Any], minutes: int | None = None) -> tuple[str, int, int, int]:
    """The official builder's conveniences: period in minutes, times in ms floored to seconds."""
    period = PERIOD_BY_MINUTES.get(given.get("period", 0) if minutes is None else minutes, 0)
    return given.get("symbol", ""), period, given.get("from", 0) // 1000, given.get("to", 0) // 1000


def test_period_table_maps_the_official_minutes_to_the_official_codes() -> None:
    assert PERIOD_BY_MINUTES == {1: 1, 5: 5, 15: 15, 30: 30, 60: 16385, 240: 16388, 1440: 16408, 10080: 32769,
                                 43200: 49153}


@pytest.mark.parametrize(("doc", "case"), _cases("rate_request"))
def test_rates_request_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    payload = check_case(doc, case, lambda: build_rates_request(*rates_args(case["input"])))
    assert list(read_rates_request(payload)) == case["parsed"]
    for more in case.get("more_periods", []):
        args = rates_args(case["input"], more["period"])
        assert args[1] == more["period_code"]
        assert build_rates_request(*args).hex() == more["hex"]


def test_rates_request_symbol_is_cut_to_32_code_units() -> None:
    assert read_rates_request(build_rates_request("X" * 40, Period.H1, 0, 1))[0] == "X" * 32


# --- command 5 history --------------------------------------------------------------------------------


@pytest.mark.parametrize(("doc", "case"), _cases("trade_history_request"))
def test_history_request_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    given = case["input"] or {}
    payload = check_case(doc, case, lambda: build_history_request(given.get("from", 0), given.get("to", 0)))
    assert list(read_history_request(payload)) == [given.get("from", 0), given.get("to", 0)]


def test_history_request_outside_i32_raises_encode_error() -> None:
    with pytest.raises(EncodeError):
        build_history_request(0, 2**31)


# --- command 12 trade request -------------------------------------------------------------------------


@pytest.mark.parametrize(("doc", "case"), _cases("trade_request"))
def test_trade_request_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    payload = check_case(doc, case, lambda: build_trade_request(js(case["input"])))
    assert_fields_match(read_trade_request(payload), doc["fields"], case["parsed"])


def test_trade_request_with_a_volume_beyond_u64_raises_encode_error() -> None:
    with pytest.raises(EncodeError):
        build_trade_request({"trade_volume": 2**64})


@pytest.mark.parametrize("text", ["Y" * 40, "\U0001f600" * 20, "a" + "\U0001f600" * 16, "short"])
def test_trade_request_symbol_and_comment_keep_their_first_32_code_units(text: str) -> None:
    units = text.encode("utf-16-le", "surrogatepass")[:64]
    payload = build_trade_request({"trade_symbol": text, "comment": text, "action_id": 3})
    for name in ("trade_symbol", "comment"):
        field = LAYOUTS["TradeRequest"].field(name)
        start = LAYOUTS["TradeRequest"].offsets[LAYOUTS["TradeRequest"].index[name]]
        assert payload[start:start + field.size] == units.ljust(64, b"\0")


def test_trade_request_with_an_unknown_field_raises_encode_error() -> None:
    with pytest.raises(EncodeError):
        build_trade_request({"volume": 1})


# --- command 43 OTP -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("doc", "case"), _cases("otp_request"))
def test_otp_request_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    given = js(case["input"])  # "server" only picks the connection; it is not part of the payload

    def build() -> bytes:
        return build_otp_request(
            int(given.get("login") or 0), given.get("password") or "", otp=given.get("otp") or "",
            otp_secret=given.get("otp_secret") or "", otp_secret_check=given.get("otp_secret_check") or "",
            cid=bytes.fromhex(case["cid"]),
        )

    payload = check_case(doc, case, build)
    got = read_otp_request(payload)
    assert_fields_match(got, doc["fields"], case["parsed"])
    if len(case["parsed"]) < len(doc["fields"]):
        assert got["password_blob"] is None  # the 476-byte form has no blob


# --- command 29 init ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("doc", "case"), _cases("init_request"))
def test_init_request_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    given = js(case["input"])
    cid = given.get("cid", bytes.fromhex(case["cid"]))  # an explicit cid wins over the device id
    payload = check_case(doc, case, lambda: build_init_request(
        cid, password=given.get("password", ""), otp=given.get("otp", ""), version=given.get("version", 0)
    ))
    assert_fields_match(read_init_request(payload), doc["fields"], case["parsed"])


# --- commands 30, 40, 27, 39: account opening ---------------------------------------------------------

#: Official form keys that are not part of the AccountOpeningBase payload.
NOT_IN_FORM = {"language", "documents"}


def form_args(given: Mapping[str, Any], page_query: str = "") -> dict[str, Any]:
    form = {snake(k): v for k, v in js(given).items()}
    base = {k: v for k, v in form.items() if k in LAYOUTS["AccountOpeningBase"].index and k not in NOT_IN_FORM}
    return {**base, **utm(page_query)}


@pytest.mark.parametrize(("doc", "case"), _cases("open_demo_account_request"))
def test_open_demo_account_request_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    payload = check_case(doc, case, lambda: build_open_account_request(form_args(case["input"], case["page_query"])))
    assert_fields_match(read_open_account_request(payload), doc["fields"], case["parsed"])


@pytest.mark.parametrize(("doc", "case"), _cases("verify_codes_request"))
def test_verify_codes_request_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    given = case["input"]
    payload = check_case(doc, case, lambda: build_verification_request(
        form_args(given["form"], case.get("page_query", "")), given["type"], bytes.fromhex(case["cid"])
    ))
    build, cid, form = read_verification_request(payload)
    assert [build, cid.hex()] == case["parsed"][:2]
    assert form == LAYOUTS["AccountOpeningBase"].unpack_dict(bytes.fromhex(case["parsed"][2]))


def real_account_args(given: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[AccountDocument]]:
    values = {snake(k): v for k, v in js(given).items()}
    kyc_layout = LAYOUTS["RealAccountExtension"]
    kyc = {k: (int(v) if kyc_layout.field(k).type.name in ("U64", "I64") else v)  # the official takes "100000"
           for k, v in values.items() if k in kyc_layout.index}
    documents = [
        AccountDocument(d["mt_dataType"], d["mt_documentType"], d["mt_frontName"], d["mt_frontBuffer"],
                        d["mt_backName"], d["mt_backBuffer"])
        for d in js(given.get("mt_documents", []))
    ]
    return form_args(given), kyc, documents


@pytest.mark.parametrize(("doc", "case"), _cases("open_real_account_request"))
def test_open_real_account_request_matches_the_official_builder(doc: dict[str, Any], case: dict[str, Any]) -> None:
    form, kyc, documents = real_account_args(case["input"])
    payload = check_case(doc, case, lambda: build_open_real_account_request(form, kyc, documents))
    got_form, got_kyc, got_docs = read_open_real_account_request(payload)
    layout = doc["layout"]
    assert_fields_match(got_form, layout["form"], case["parsed"]["form"])
    assert_fields_match(got_kyc, layout["kyc"], case["parsed"]["kyc"])
    assert len(got_docs) == len(case["parsed"]["documents"])
    for got, want in zip(got_docs, case["parsed"]["documents"], strict=True):
        data_type, document_type, front_name, front_size, back_name, back_size, front, back = want
        assert got == AccountDocument(data_type, document_type, front_name, bytes.fromhex(front), back_name,
                                      bytes.fromhex(back))
        assert (len(got.front), len(got.back)) == (front_size, back_size)


def test_every_request_vector_file_is_exercised_here() -> None:
    tested = {
        "login_request", "change_password_request", "notify_request", "symbol_id_list_request", "rate_request",
        "trade_history_request", "trade_request", "otp_request", "init_request", "open_demo_account_request",
        "verify_codes_request", "open_real_account_request",
    }
    on_disk = {p.stem for p in VECTORS.glob("*.json") if json.loads(p.read_text()).get("direction") ==
               "client_to_server"}
    assert on_disk == tested
