"""How counts, prices and waits read, the same in the form, placement reasons and the progress page.

A leaf (imports nothing of ours), so pure placement can use it too.
"""

from __future__ import annotations

__all__ = ["count", "price_text", "wait_text"]


def count(n: float, word: str, plural: str | None = None) -> str:
    """'1 core', '2 cores', '0.5 cores', '1 A100 GPU' (``word`` may hold a prefix)."""
    return f"{n:g} {word if n == 1 else plural or word + 's'}"


def price_text(price: float | None, currency: str | None = None) -> str:
    """An hourly price: 'no hourly charge', '$4.10/h', '4.10 USD/h', or '4.1 per hour' when the
    catalog names no currency (a bare '4.1/h' reads as a unit, not as money)."""
    if not price:
        return "no hourly charge"
    if not currency:
        return f"{price:g} per hour"
    amount = f"{price:.2f}" if price >= 0.01 else f"{price:g}"
    if currency.isalpha():  # a code or a word: USD, EUR, kr
        return f"{amount} {currency}/h"
    return f"{currency}{amount}/h"  # a symbol: $, €, £


def wait_text(seconds: float) -> str:
    """'about 4 min' (never 'about 0 min')."""
    return f"about {max(1, round(seconds / 60))} min"
