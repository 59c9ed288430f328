"""Local stand-ins for the services the product talks to (PostgreSQL databases, S3 on
loopback), for the tests, the benchmarks and the demo. Not part of the code location."""
