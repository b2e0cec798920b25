"""The HTTP listeners: admitting connections within limits, TLS, read deadlines, and the plain-HTTP redirect."""
