"""Sensors: new OpenAQ objects, retraining triggers, run-failure alerts."""
