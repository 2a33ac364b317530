"""Checks and normal forms of customer data: credit codes, ID numbers, phones, names.

* The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from
  ``0-9 A-H J-N P-R T U W-Y``; the last is a check character over the first 17
  (weights 3^i mod 31).
* The resident ID number (GB 11643-1999): 17 digits and a check digit (ISO 7064
  MOD 11-2, ``X`` for 10).
* Phones: a mainland mobile (11 digits from 13-19) or a landline with its area code
  (``010-12345678``, ``0755-1234567``, optionally ``-ext``); ``+86``/``0086`` and
  spaces, dots, dashes, brackets and full-width digits are accepted and normalised.
"""

from __future__ import annotations

import re
import unicodedata
from functools import partial
from itertools import repeat
from operator import mul

from erpkit.core.errors import ValidationError
from erpkit.core.i18n import gettext as _

CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_CHARS)}
_CREDIT_SET = frozenset(CREDIT_CHARS)
_CREDIT_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_ID_CHECK = "10X98765432"


def credit_code_check_char(first17: str) -> str:
    # map/sum in C: a generator over zip cost a third of an import's row checks
    if len(first17) != 17:
        raise ValueError("a credit code's check character is computed from 17 characters")
    total = sum(map(mul, map(_CREDIT_VALUE.__getitem__, first17), _CREDIT_WEIGHTS))
    return CREDIT_CHARS[(31 - total % 31) % 31]


_CREDIT_TABLE = bytes.maketrans(CREDIT_CHARS.encode(), bytes(range(len(CREDIT_CHARS))))
_CREDIT_FORM = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{18}").fullmatch


def _credit_code_ok(code: str) -> bool:
    """The check character of a code already known to be 18 credit code characters
    (their values by ``bytes.translate``, no dict lookups)."""
    total = sum(map(mul, code.encode().translate(_CREDIT_TABLE, b"")[:17], _CREDIT_WEIGHTS))
    return CREDIT_CHARS[(31 - total % 31) % 31] == code[17]


def is_credit_code(code: str) -> bool:
    return (
        len(code) == 18
        and _CREDIT_SET.issuperset(code)
        and credit_code_check_char(code[:17]) == code[17]
    )


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def is_id_number(number: str) -> bool:
    return (
        len(number) == 18
        and number[:17].isascii()
        and number[:17].isdigit()
        and id_check_char(number[:17]) == number[17]
    )


def _narrow(text: str) -> str:
    """Full-width letters and digits as ASCII (NFKC), upper case, spaces removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()


def clean_credit_code(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    # most codes arrive in their normal form already: skip the Unicode normalisation
    plain = len(value) == 18 and value.isascii() and value.isalnum() and value.isupper()
    code = value if plain else _narrow(value)
    if len(code) != 18:
        raise ValidationError({"credit_code": _("A unified social credit code has 18 characters.")})
    if not is_credit_code(code):
        raise ValidationError(
            {"credit_code": _("This unified social credit code is not valid (check character).")}
        )
    return code


def clean_id_number(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    number = _narrow(value)
    if not is_id_number(number):
        raise ValidationError({"id_number": _("This ID number is not valid.")})
    return number


_PHONE_JUNK = re.compile(r"[\s().\-—–_/]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
# area codes: 010, 02x, and 03xx-09xx; numbers of 7 or 8 digits; an optional extension
_LANDLINE = re.compile(r"(0(?:10|2\d|[3-9]\d{2}))(\d{7,8})(?:(?:EXT|转|#|,)(\d{1,6}))?")


def normalise_phone(value: str) -> str | None:
    """The normal form of a phone number, or None when it is not one."""
    text = unicodedata.normalize("NFKC", value).strip().upper()
    m = re.fullmatch(r"(.*?)(?:(?:EXT\.?|转|#|,)\s*(\d{1,6}))?", text)
    main, ext = (m.group(1), m.group(2)) if m else (text, None)
    # an extension written with a dash after the landline number: 010-12345678-123
    parts = re.split(r"[\s\-—–]+", main.strip())
    digits = _PHONE_JUNK.sub("", main)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not digits.isascii() or not digits.isdigit():
        return None
    if _MOBILE.fullmatch(digits) and ext is None:
        return digits
    if ext is None and len(parts) >= 3 and parts[-1].isdigit() and len(parts[-1]) <= 6:
        tail = parts[-1]
        head = _PHONE_JUNK.sub("", "".join(parts[:-1]))
        if _LANDLINE.fullmatch(head):
            digits, ext = head, tail
    if digits.startswith("86") and not digits.startswith("0"):
        digits = "0" + digits[2:] if len(digits) in (11, 12) else digits
    m = _LANDLINE.fullmatch(digits)
    if not m:
        return None
    area, number = m.group(1), m.group(2)
    if len(area) == 3 and len(number) != 8:  # 010 and 02x have 8-digit numbers
        return None
    out = f"{area}-{number}"
    return f"{out}-{ext}" if ext else out


def clean_phone(value: str | None, field: str = "phone") -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) == 11 and value.isascii() and _MOBILE.fullmatch(value):
        return value  # a mobile number in its normal form (most rows of an import)
    phone = normalise_phone(value)
    if phone is None:
        raise ValidationError(
            {
                field: _(
                    "Enter a mobile number (11 digits) or a landline with its area code, "
                    "e.g. 010-12345678."
                )
            }
        )
    return phone


_MOBILE_ASCII = re.compile(r"1[3-9][0-9]{9}").fullmatch


def _column(values: list, ok: list, clean, field: str) -> tuple[list, dict[int, str]]:
    """``clean`` over a column: the cleaned values and ``{index: message}``; ``ok`` tells
    the values already in their normal form, ``clean`` runs on the others only."""
    out = list(values)
    errors: dict[int, str] = {}
    for i in [i for i, good in enumerate(ok) if not good]:
        value = values[i]
        if value is None:
            continue
        try:
            out[i] = clean(value)
        except ValidationError as exc:
            errors[i] = exc.errors.get(field) or next(iter(exc.errors.values()))
    return out, errors


def clean_phones(values: list, field: str = "phone") -> tuple[list, dict[int, str]]:
    """:func:`clean_phone` over a column (an import's batch): the mobile numbers already
    in their normal form, most of them, are told in one C loop."""
    ok = list(map(_MOBILE_ASCII, [v if v.__class__ is str else "" for v in values]))
    return _column(values, ok, partial(clean_phone, field=field), field)


def clean_credit_codes(values: list) -> tuple[list, dict[int, str]]:
    """:func:`clean_credit_code` over a column (an import's batch)."""
    ok = [v.__class__ is str and _CREDIT_FORM(v) is not None and _credit_code_ok(v) for v in values]
    return _column(values, ok, clean_credit_code, "credit_code")


def clean_emails(values: list) -> tuple[list, dict[int, str]]:
    """:func:`clean_email` over a column (an import's batch)."""
    return _column(values, [False] * len(values), clean_email, "email")


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}")


def clean_email(value: str | None, field: str = "email") -> str | None:
    if value is None or not value.strip():
        return None
    email = unicodedata.normalize("NFKC", value).strip()
    if len(email) > 200 or not _EMAIL.fullmatch(email):
        raise ValidationError({field: _("Enter an e-mail address such as name@example.com.")})
    return email.lower()


# company forms left out of the duplicate key: 北京某某科技有限公司 = 北京某某科技
_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "集团公司",
    "分公司",
    "公司",
    "COLTD",
    "CO.,LTD",
    "LIMITED",
    "LTD",
    "INC",
    "LLC",
    "GMBH",
)
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
#: the suffixes as they appear in a key (reduced like the name), in the same order
_SUFFIX_KEYS = tuple(_NOT_WORD.sub("", s) for s in _SUFFIXES)


_NFKC = partial(unicodedata.normalize, "NFKC")
#: the company form at the end of a key, not the whole key (the longest first, as above)
_SUFFIX_AT_END = re.compile(f"(?<=.)(?:{'|'.join(map(re.escape, _SUFFIX_KEYS))})\\Z", re.S)


def name_keys(names: list[str]) -> list[str]:
    """:func:`name_key` of each name, in C loops over the list (an import's batch)."""
    keys = map(_NOT_WORD.sub, repeat(""), map(str.upper, map(_NFKC, names)))
    return [k[:200] for k in map(_SUFFIX_AT_END.sub, repeat(""), keys, repeat(1))]


def name_key(name: str) -> str:
    """A customer name reduced for duplicate checks: width, case, spaces, punctuation
    and the company form (有限公司, Co., Ltd.) do not count."""
    key = _NOT_WORD.sub("", unicodedata.normalize("NFKC", name).upper())
    if key.endswith(_SUFFIX_KEYS):
        for s in _SUFFIX_KEYS:
            if key.endswith(s) and len(key) > len(s):
                key = key[: -len(s)]
                break
    return key[:200]
