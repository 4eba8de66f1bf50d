"""Running the product: status, the council report, the benchmark and the background services."""
