from pydantic import BaseModel, ConfigDict


class SpecModel(BaseModel):
    """Base of every declaration model: unknown fields are errors and values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)
