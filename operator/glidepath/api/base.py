"""Shared pydantic configuration: camelCase aliases as Kubernetes spells them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base of every API model: fields are snake_case in Python and camelCase on the wire.

    Unknown fields are ignored when parsing (the API server already prunes them with the CRD's
    structural schema); models are immutable.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    def to_wire(self) -> dict[str, object]:
        """Serialize as the API server stores it: camelCase keys, ``None`` fields omitted."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
