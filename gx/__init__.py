"""The data contract: Great Expectations suites, checkpoints and the valid/quarantine split.

This folder is both the GX file context (great_expectations.yml, expectations/, checkpoints/,
validation_definitions/; uncommitted/ holds results and data docs) and the Python package that
builds the context and runs it against the warehouse.
"""

import sys

# GX imports pyspark and py4j whenever they are installed (make install-spark) to offer Spark data
# sources, which this contract does not use: 0.4 s and pyspark's own warnings in every run. A None
# entry makes their import fail for GX; flows/spark_engine.py lifts it before using Spark.
HIDDEN_FROM_GX = ("pyspark", "py4j")
for _name in HIDDEN_FROM_GX:
    sys.modules.setdefault(_name, None)
