"""A deterministic generator of OpenAQ-like source objects, for the demo, tests and benchmarks.
Not part of the code location: nothing the product runs at a user's site imports it."""
