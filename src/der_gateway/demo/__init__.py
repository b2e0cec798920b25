"""der-gateway demo: a whole event, from the utility to simulated inverters and back."""
