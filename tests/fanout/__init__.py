"""Support for the fan-out tests (test_workflow*, test_optimizations*, test_batches*): the local
stack as a user reaches it over REST, plus the stores a test looks behind."""
