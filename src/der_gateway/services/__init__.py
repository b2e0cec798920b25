"""Use cases the 2030.5 edge and the admin API both call: plain logic over the store, no HTTP."""
