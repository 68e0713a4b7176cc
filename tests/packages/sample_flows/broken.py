import sample_flows.workflows  # noqa: F401

raise RuntimeError("boom at import")
