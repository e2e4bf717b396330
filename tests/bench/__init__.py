"""The tools/call latency and throughput benchmark (`./pants run tests/bench:bin`; see docs/performance.md).

A command that prints a table, not a test: timings are never asserted. Every server it measures
runs as its own process on 127.0.0.1, so nothing is shared but the network (and the CPUs).
"""
