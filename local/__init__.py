"""Embedded local stack: moto server + API Gateway emulation running the template's handlers."""
