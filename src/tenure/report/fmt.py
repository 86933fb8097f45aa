"""Numbers, money, shares and dates in the workspace's locale and currency (Babel), and the
locale tag the page's chart ticks use (Intl) so that they agree with the text."""

from __future__ import annotations

import datetime as dt

from babel import Locale
from babel.dates import format_date
from babel.numbers import (format_currency, format_decimal, format_percent, get_currency_symbol,
                           get_decimal_symbol, get_group_symbol)


class Numbers:
    def __init__(self, locale: str = "en_US", currency: str = "USD") -> None:
        self.locale = Locale.parse(locale)
        self.currency = currency
        pattern = self.locale.currency_formats["standard"].pattern.split(";")[0]
        self._whole = pattern.replace(".00", "")  # money without cents, same symbol placement
        self.symbol = get_currency_symbol(currency, locale=self.locale)
        self.symbol_first = pattern.strip().startswith("¤")

    def int(self, n) -> str:
        return format_decimal(int(round(n)), locale=self.locale)

    def decimal(self, x, digits: int = 1) -> str:
        # Rounded first, then printed without forced trailing zeros: 41 days, not 41.0 days.
        return format_decimal(round(float(x), digits), locale=self.locale, decimal_quantization=False)

    def money(self, x, *, cents: bool | None = None) -> str:
        if cents is None:
            cents = abs(x) < 100
        if cents:
            return format_currency(x, self.currency, locale=self.locale)
        return format_currency(round(float(x)), self.currency, format=self._whole, locale=self.locale,
                               currency_digits=False)

    def percent(self, x, digits: int = 0, *, fixed: bool = False) -> str:
        """38%, 38.5%; `fixed` keeps trailing zeros (54.0%) so that figures side by side align."""
        if fixed and digits:
            pattern = self.locale.percent_formats[None].pattern.split(";")[0]
            head, _, tail = pattern.rpartition("0")
            return format_percent(x, format=f"{head}0.{'0' * digits}{tail}", locale=self.locale)
        return format_percent(round(float(x), digits + 2), locale=self.locale, decimal_quantization=False)

    def days(self, x) -> str:
        x = float(x)
        text = self.decimal(x, 0 if abs(x) >= 10 else 1)
        return f"{text} day" if text == "1" else f"{text} days"

    def date(self, day: dt.date) -> str:
        return format_date(day, format="medium", locale=self.locale)

    def month(self, ym: str) -> str:
        """'2025-03' as the locale writes a month: Mar 2025."""
        return format_date(dt.date.fromisoformat(f"{ym}-01"), format="MMM y", locale=self.locale)

    # -- the page's charts ----------------------------------------------------------------------
    @property
    def tag(self) -> str:
        """The locale as a BCP 47 tag for the browser's Intl (en_GB -> en-GB)."""
        return str(self.locale).replace("_", "-")

    @property
    def separators(self) -> str:
        """The decimal mark, then the thousands mark."""
        return get_decimal_symbol(self.locale) + get_group_symbol(self.locale)
