"""Amounts in Chinese capitals (人民币大写), as written on invoices, quotations and cheques.

The rules are those of the People's Bank of China for filling in bills
(《正确填写票据和结算凭证的基本规定》):

* digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟, sections 万 and 亿, then 元, 角, 分;
  "壹拾" is always written out (15 -> 壹拾伍元整);
* one 零 stands for any run of zeros *between* non-zero digits, also across a
  万 or 亿 section (10005 -> 壹万零伍元整, 100010000 -> 壹亿零壹万元整); zeros at the
  end of the yuan part are not written (100000 -> 壹拾万元整);
* 整 follows 元 when there are no jiao and no fen; nothing follows 角 or 分
  (100000.5 -> 壹拾万元伍角: the rules allow leaving 整 out after 角);
* when jiao is 0 and fen is not, 零 follows 元 (325.04 -> 叁佰贰拾伍元零肆分);
* where the rules leave 零 optional (the units digit or the 万 digit is 0 but the
  next one is not, as in 1680.32 or 107000.53) no 零 is written:
  壹仟陆佰捌拾元叁角贰分, 壹拾万柒仟元伍角叁分;
* less than one yuan has no 元 part (0.5 -> 伍角, 0.05 -> 伍分); zero is 零元整;
* negative amounts start with 负.

Amounts are :class:`~decimal.Decimal` and are rounded half-up to the fen first;
floats are taken by their shortest ``repr`` so that ``0.1`` means one jiao.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ("", "拾", "佰", "仟")
#: the largest amount written: below 1 万亿亿 (10^16) yuan
LIMIT = Decimal(10) ** 16
FEN = Decimal("0.01")


def to_decimal(value: object) -> Decimal:
    """``value`` as a Decimal amount; ValueError for what is not a finite number."""
    if isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace(",", "").replace("，", "")
        for sign in ("¥", "￥"):
            text = text.replace(sign, "")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not an amount: {value!r}") from None
    else:
        raise ValueError(f"not an amount: {value!r}")
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return amount


def _section(n: int) -> str:
    """0 < n < 10000, e.g. 1005 -> 壹仟零伍, 1200 -> 壹仟贰佰."""
    out = []
    zero = False
    for pos in range(3, -1, -1):
        digit = n // 10**pos % 10
        if digit == 0:
            zero = bool(out)  # a zero after a written digit may need a 零
            continue
        if zero:
            out.append("零")
            zero = False
        out.append(DIGITS[digit] + _UNITS[pos])
    return "".join(out)


def _yuan(n: int) -> str:
    """0 < n < 10^16 in words, without 元."""
    for size, unit in ((10**8, "亿"), (10**4, "万")):
        if n >= size:
            high, low = divmod(n, size)
            words = _yuan(high) + unit
            if low:
                # a zero digit right below the section needs one 零 (10005 -> 壹万零伍)
                words += ("零" if low < size // 10 else "") + _yuan(low)
            return words
    return _section(n)


def amount_in_words(value: object) -> str:
    """The amount in Chinese capitals: ``Decimal("12345.67")`` -> 壹万贰仟叁佰肆拾伍元陆角柒分.

    Rounded half-up to the fen. ValueError when ``value`` is not a number or is
    10^16 yuan or more.
    """
    amount = to_decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)
    if abs(amount) >= LIMIT:
        raise ValueError(f"amount too large to write in words: {value!r}")
    sign = "负" if amount < 0 else ""
    fen_total = int(abs(amount) * 100)
    yuan, cents = divmod(fen_total, 100)
    jiao, fen = divmod(cents, 10)
    if fen_total == 0:
        return "零元整"
    words = _yuan(yuan) + "元" if yuan else ""
    if not jiao and not fen:
        return sign + words + "整"
    if jiao:
        words += DIGITS[jiao] + "角"
    elif yuan:
        words += "零"  # 325.04 -> 叁佰贰拾伍元零肆分
    if fen:
        words += DIGITS[fen] + "分"
    return sign + words
