"""The hook quotes adds for other plugins (``add_hookspecs``): pricing rules.

Implement it with ``@hookimpl(optionalhook=True)`` so that your plugin still loads
when quotes is switched off. See docs/plugin-hooks.md#price_adjustments.
"""

from pluggy import HookspecMarker

hookspec = HookspecMarker("erpkit")


@hookspec
def price_adjustments(quote, line):
    """Return the adjustments of one quote line: a list of
    :class:`erpkit.plugins.quotes.pricing.Adjustment` (or None for none).

    ``quote`` is a :class:`~erpkit.plugins.quotes.pricing.PricingQuote`: the customer
    (``customer``, ``customer_category``: new / old / premium), ``project_id``,
    ``base_total`` (Σ of the lines after their own discounts, tax included), the
    discount ``policy`` the admin set, ``lines``, the ``user`` and the ``session``
    (read only: do not write). ``line`` is a
    :class:`~erpkit.plugins.quotes.pricing.PricingLine`: ``index``, ``product`` (the
    products plugin's ``Product``), ``qty``, ``unit``, ``unit_price`` (tax included),
    ``discount`` (per cent), ``tax_rate``, ``attributes`` (a dict the API and form
    pass through: a custom size, a finish…), ``gross`` and ``base`` (after the line's
    discount).

    An adjustment is ``Adjustment(source, label, percent=…)`` (per cent of the line's
    ``base``; negative for a discount, positive for a surcharge) or
    ``Adjustment(source, label, amount=…)`` (a fixed amount, tax included, at most
    two decimal places). ``source`` names your rule (``"furniture.custom_size"``);
    ``label`` is an English text your catalog translates; ``note`` says why
    (``"2.16 m²"``). Each applied adjustment is rounded half-up to the cent and shown
    on the line with its source. Raise ``ValidationError({"lines.<index>.<field>":
    _("…")})`` to refuse a line. Every implementation is called; the order of the
    results does not change the amounts (percentages apply to ``base``, not to each
    other).
    """
