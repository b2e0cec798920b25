"""The der-gateway command line."""
