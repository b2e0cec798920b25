"""The aiohttp edge: TLS, client identity, routes."""
