"""The data contract: Great Expectations suites, checkpoints and the valid/quarantine split.

This folder is both the GX file context (great_expectations.yml, expectations/, checkpoints/,
validation_definitions/; uncommitted/ holds results and data docs) and the Python package that
builds the context and runs it against the warehouse.
"""
