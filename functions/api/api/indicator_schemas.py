"""The indicator catalogue's response body (`GET /api/v1/indicators`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class IndicatorParameterOut(BaseModel):
    name: str = Field(description="TA-Lib's parameter name (or the indicator's own, for those TA-Lib lacks).")
    default: int | float | str
    type: Literal["integer", "number", "choice"]
    minimum: int | float | None = Field(None, description="Inclusive; null for a choice.")
    maximum: int | float | None = Field(None, description="Inclusive; null for a choice.")
    choices: list[str] | None = Field(None, description="The words a choice accepts; null for a number.")
    aliases: list[str] = Field(description="Older project names accepted for it (`period` for `timeperiod`).")


class IndicatorSourceOut(BaseModel):
    name: Literal["source", "source1"] = Field(description="The param naming the price series read.")
    default: str


class IndicatorSeriesParameterOut(BaseModel):
    name: str = Field(description="The param naming a whole series (mavp's `periods`); required.")
    accepts: list[Literal["price", "number", "indicator"]] = Field(
        description="What it may be, as a condition's `value`: a price field, a number (or `$name`), "
        "an indicator object {indicator, params} (params may pick output, offset)."
    )
    description: str


class IndicatorOutputOut(BaseModel):
    name: str
    aliases: list[str]


class IndicatorOut(BaseModel):
    name: str = Field(description="What a condition's `indicator` says (an alias works too).")
    aliases: list[str]
    group: str
    description: str
    reference: str
    parameters: list[IndicatorParameterOut]
    sources: list[IndicatorSourceOut] = Field(description="Empty: the indicator reads fixed columns.")
    series_parameters: list[IndicatorSeriesParameterOut] = Field(
        description="Parameters that are series, not numbers; empty for most indicators."
    )
    outputs: list[IndicatorOutputOut]
    default_output: str
    warmup: int = Field(
        description="Leading undefined bars at the default parameters (after those of its "
        "series parameters, when it has any)."
    )
    warmup_depends_on_data: bool = Field(description="True when `warmup` is a lower bound (pivots, fractals).")
    lookback: int | None = Field(description="Bars a value depends on at the defaults; null: all history.")


class IndicatorList(BaseModel):
    data: list[IndicatorOut]
