"""The models kiegen knows, by id: immutable, so a registry handed to a client cannot change under it.

``validate(model_id, inputs)`` finds the model and checks the input (``kiegen.core.validation``). ``enabled`` is
the operator's choice of models to offer people (``KIEGEN_MODELS_ENABLED``): the Telegram bot shows only those,
while the SDK and the HTTP API accept every model of the registry.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from kiegen.core.errors import ConfigurationError, InvalidInput
from kiegen.core.frozen import FrozenDict
from kiegen.core.models import ModelKind, ModelSpec
from kiegen.core.validation import unknown_model, validate

__all__ = ["ALL_MODELS", "ModelRegistry"]

ALL_MODELS = "*"
"""In an enabled list: every model of the registry."""


def _frozen_models(models: Mapping[str, ModelSpec]) -> FrozenDict[str, ModelSpec]:
    return FrozenDict(models)


def _enabled_ids(ids: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if ids is None else tuple(ids)


@attrs.frozen
class ModelRegistry:
    """``with_models``, ``with_prices`` and ``with_enabled`` return new registries; nothing changes one."""

    models: FrozenDict[str, ModelSpec] = attrs.field(converter=_frozen_models)
    enabled: tuple[str, ...] | None = attrs.field(default=None, kw_only=True, converter=_enabled_ids)
    """Model ids offered to people, in registry order; None: every model."""

    @classmethod
    def of(cls, specs: Iterable[ModelSpec]) -> ModelRegistry:
        return cls({spec.id: spec for spec in specs})

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self.models

    def get(self, model_id: str) -> ModelSpec:
        spec = self.models.get(model_id)
        if spec is None:
            raise InvalidInput([unknown_model(model_id, self.models)], model=str(model_id))
        return spec

    def find(self, model_id: str) -> ModelSpec | None:
        return self.models.get(model_id)

    def by_kind(self) -> dict[ModelKind, list[ModelSpec]]:
        """The models grouped by kind, kinds in their declared order."""
        groups: dict[ModelKind, list[ModelSpec]] = {kind: [] for kind in ModelKind}
        for spec in self:
            groups[spec.kind].append(spec)
        return {kind: specs for kind, specs in groups.items() if specs}

    def validate(self, model_id: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Normalize ``inputs`` for ``model_id`` or raise ``InvalidInput`` listing every problem."""
        return validate(self.get(model_id), inputs)

    def is_enabled(self, model_id: str) -> bool:
        return model_id in self.models and (self.enabled is None or model_id in self.enabled)

    def enabled_models(self) -> list[ModelSpec]:
        """The models to offer people, in registry order."""
        return [spec for spec in self if self.enabled is None or spec.id in self.enabled]

    def with_models(self, specs: Iterable[ModelSpec], *, enable: bool = False) -> ModelRegistry:
        """Add (or replace) models; ``enable`` also offers the added ones when an enabled list is set."""
        added = {spec.id: spec for spec in specs}
        enabled = self.enabled
        if enable and enabled is not None:
            enabled = (*enabled, *(mid for mid in added if mid not in enabled))
        return ModelRegistry({**self.models, **added}, enabled=enabled)

    def with_prices(self, prices: Mapping[str, int]) -> ModelRegistry:
        self._check_known(prices, "price table")
        return ModelRegistry(
            {mid: attrs.evolve(spec, price=prices.get(mid, spec.price)) for mid, spec in self.models.items()},
            enabled=self.enabled,
        )

    def with_enabled(self, model_ids: Iterable[str] | None) -> ModelRegistry:
        """Offer exactly these models (``*`` or None: all). Unknown ids are a configuration error."""
        ids = None if model_ids is None else tuple(dict.fromkeys(model_ids))
        if ids is None or ALL_MODELS in ids:
            return ModelRegistry(self.models, enabled=None)
        self._check_known(ids, "enabled models list")
        return ModelRegistry(self.models, enabled=tuple(mid for mid in self.models if mid in ids))

    def _check_known(self, model_ids: Iterable[str], what: str) -> None:
        unknown = sorted(set(model_ids) - set(self.models))
        if not unknown:
            return
        hints = []
        for mid in unknown:
            close = difflib.get_close_matches(mid, list(self.models), n=1, cutoff=0.6)
            hints.append(f"{mid} (did you mean {close[0]}?)" if close else mid)
        raise ConfigurationError(f"{what} names unknown models: {', '.join(hints)}")
