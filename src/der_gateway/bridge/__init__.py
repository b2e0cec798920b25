"""The aggregator bridge: a 2030.5 client acting for SunSpec Modbus devices.

``sunspec_map`` converts between SunSpec 700-series point values and 2030.5
resources, and ``decision`` decides which control is in force for a device and
which responses it owes.  Both are pure: no I/O, no clocks, no randomness
beyond a caller-supplied seed.

The runtime puts them to work (``der-gateway bridge``, or
``runtime.Bridge.start(...)`` from Python): ``identity`` (each device's own
LFDI, and the inventory), ``modbus`` (pysunspec2 on a bounded thread pool),
``client`` (2030.5 over mutual TLS), ``notifications`` (the notificationURI
listener), ``programs`` (the programs, fetched once for all devices),
``agent`` (one device's loop) and ``runtime`` (the process).
"""
