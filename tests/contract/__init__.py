"""Contract tests: the aggregator's tools against their published schemas and contract file."""
