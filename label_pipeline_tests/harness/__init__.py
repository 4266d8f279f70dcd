"""Process harnesses for tests and benchmarks: a local distributed cluster, a daemon stand-in."""
