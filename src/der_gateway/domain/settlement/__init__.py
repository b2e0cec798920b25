"""Settlement of event participation: interval data, baselines, kWh avoided, prices and credits (pure)."""
