"""Data-logistics assets: OpenAQ objects -> raw partitions -> the TOAR database."""
