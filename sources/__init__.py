"""Sources: the formats OpenAQ publishes and their readers, one sibling package per format.
Each turns source objects into rows of the one raw schema (``domain.raw_schema``); no Dagster."""
