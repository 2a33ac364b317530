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
