"""Asset checks: great-expectations suites and QoA control rules on each asset."""
