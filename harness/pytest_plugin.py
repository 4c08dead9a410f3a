"""pytest plugin for Jepsen-style tests against a real etcd cluster (filled in by the suites work)."""
