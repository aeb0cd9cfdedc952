"""One router per area of the API; `application.ROUTERS` lists them."""
