"""Feature tables, training, evaluation, registry promotion and forecasts (asset group ``ml``)."""
