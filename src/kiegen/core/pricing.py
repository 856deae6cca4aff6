"""End-user prices from KIE's costs: the default an operator gets for a paid model, and the margin it leaves.

The rule (``KIEGEN_PRICE_MARKUP``, default ``1.5``): a model without a price of its own costs the end user
``ceil(KIE cost * markup)`` credits, at least 1 (a markup of 0 makes such models free). One end-user credit is
priced against one KIE credit: with the bot's default Stars packs a credit sells for about as much as KIE charges
for one, so the markup is the operator's margin.

KIE's cost is the price the model's docs page states (``ModelSpec.kie_credits``). Where the page states none,
the rule assumes the top of the range KIE's market overview gives for the model's media (image models "typically
10-50 credits", video models "100-500", docs ``cn/market/quickstart.md``), so that a default price never sells
below what KIE documents.
"""

from __future__ import annotations

import math
from decimal import Decimal

import attrs

from kiegen.core.models import Media, ModelSpec

__all__ = ["ASSUMED_KIE_CREDITS", "DEFAULT_MARKUP", "Cost", "kie_cost", "margin", "marked_up_price"]

DEFAULT_MARKUP = Decimal("1.5")
ASSUMED_KIE_CREDITS = {Media.IMAGE: Decimal(50), Media.VIDEO: Decimal(500)}
"""The top of KIE's documented per-generation range, by media, for models whose page states no price."""


@attrs.frozen
class Cost:
    credits: Decimal
    documented: bool
    """True when the model's own page states the price; False when it is KIE's range for the media."""


def kie_cost(spec: ModelSpec) -> Cost:
    if spec.kie_credits is not None:
        return Cost(Decimal(str(spec.kie_credits)), documented=True)
    return Cost(ASSUMED_KIE_CREDITS[spec.media], documented=False)


def marked_up_price(spec: ModelSpec, markup: Decimal) -> int:
    """The default end-user price of a model that has none of its own."""
    if markup <= 0:
        return 0
    # Decimal, not float: 10 * 1.1 is 11.000000000000002 in floats, and ceil would make it 12.
    return max(1, math.ceil(kie_cost(spec).credits * markup))


def margin(spec: ModelSpec) -> Decimal:
    """Credits the operator keeps per task at the model's price (negative: sold below KIE's cost)."""
    return Decimal(spec.price) - kie_cost(spec).credits
