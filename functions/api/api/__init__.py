"""The REST API's HTTP layer: FastAPI routes (one module per area under `routes`), the error
mapping, authentication + rate-limit middleware, and the wiring of services to AWS adapters."""

PREFIX = "/api/v1"
