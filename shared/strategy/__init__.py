"""The strategy language: JSON rules -> validated `Strategy` -> entry/exit signals."""
