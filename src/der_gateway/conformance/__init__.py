"""The CSIP-AUS conformance harness (cactus) run against der-gateway: installation, admin plugin, runner."""
