"""The aggregator bridge: a 2030.5 client acting for SunSpec Modbus devices.

``sunspec_map`` converts between SunSpec 700-series point values and 2030.5
resources, and ``decision`` decides which control is in force for a device and
which responses it owes.  Both are pure: no I/O, no clocks, no randomness
beyond a caller-supplied seed.
"""
