"""The static indicator data is current: TA-Lib's function table (with the ranges TA-Lib accepts)
and the catalogue `GET /api/v1/indicators` serves both equal what their builders produce now."""

from __future__ import annotations

import json

import talib

from shared.indicators import REGISTRY
from shared.indicators.catalogue import CATALOGUE_PATH, build_catalogue
from shared.indicators.talib_catalogue import TALIB_FUNCTIONS_PATH, build_talib_functions


def test_the_talib_function_table_is_current() -> None:
    # Regenerate with: .venv/bin/python -m shared.indicators.talib_catalogue
    assert json.loads(TALIB_FUNCTIONS_PATH.read_text()) == build_talib_functions()


def test_the_catalogue_is_current() -> None:
    # Regenerate with: .venv/bin/python -m shared.indicators.catalogue
    assert json.loads(CATALOGUE_PATH.read_text()) == build_catalogue()


def test_every_talib_function_is_an_indicator_under_its_lower_case_name() -> None:
    names = {name.lower() for name in talib.get_functions()}
    assert "mavp" in names and names <= set(REGISTRY)
    for name in (
        "mfi",
        "sar",
        "aroonosc",
        "trix",
        "ultosc",
        "natr",
        "cmo",
        "tema",
        "kama",
        "linearreg_slope",
        "cdlengulfing",
    ):
        assert REGISTRY[name].reference == "TA-Lib"


def test_ranges_are_the_ones_talib_accepts() -> None:
    entries = {entry["name"]: entry for entry in json.loads(TALIB_FUNCTIONS_PATH.read_text())}
    parameters = {p["name"]: p for p in entries["rsi"]["parameters"]}
    assert (parameters["timeperiod"]["minimum"], parameters["timeperiod"]["maximum"]) == (2, 100_000)
    mama = {p["name"]: p for p in entries["mama"]["parameters"]}
    assert (mama["fastlimit"]["minimum"], mama["fastlimit"]["maximum"]) == (0.01, 0.99)
    assert {p["name"]: p for p in entries["t3"]["parameters"]}["vfactor"]["maximum"] == 1.0
