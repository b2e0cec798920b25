"""A cactus-client admin plugin for der-gateway: every admin instruction goes through the operator's admin API."""
