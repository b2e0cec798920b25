"""Event participation, as pure logic: each device's score and availability (score.py), what the server's
2030.5 documents say of a device (device_facts.py), and load-reduction forecasts (forecast.py)."""
