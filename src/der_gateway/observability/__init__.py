"""Metrics, structured logs and the live views of connections and refusals, for every listener."""
