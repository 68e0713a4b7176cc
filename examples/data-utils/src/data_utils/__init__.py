"""Data-preparation steps shared by Acme's pipelines."""
