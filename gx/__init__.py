"""The data contract: Great Expectations suites, checkpoints and the valid/quarantine split.

This folder is both the GX file context (great_expectations.yml, expectations/, checkpoints/,
validation_definitions/; uncommitted/ holds results and data docs) and the Python package that
builds the context and runs it against the warehouse.
"""

import importlib.util
import sys
import types

# GX imports pyspark and py4j whenever they are installed (make install-spark) to offer Spark data
# sources, which this contract does not use: 0.4 s and pyspark's own warnings in every run. A None
# entry makes their import fail for GX; flows/spark_engine.py lifts it before using Spark.
HIDDEN_FROM_GX = ("pyspark", "py4j")
for _name in HIDDEN_FROM_GX:
    sys.modules.setdefault(_name, None)

# GX imports scipy.stats when it starts, for one expectation this contract does not use (KL
# divergence): over half a second of every run that validates. Registered unexecuted, the module
# runs at the first use of a name it defines, if any (README, "Measured figures").
LOADED_AT_FIRST_USE = ("scipy.stats",)


class _LoadedAtFirstUse(types.ModuleType):
    """A module whose code has not run yet: its spec, file and path answer as usual (code that
    walks sys.modules reads them), and the first other name asked for runs the module's code."""

    def __getattr__(self, name: str):
        self.__class__ = types.ModuleType
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def _load_at_first_use(name: str) -> None:
    if name in sys.modules:
        return
    module = importlib.util.module_from_spec(importlib.util.find_spec(name))
    module.__class__ = _LoadedAtFirstUse
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)  # else `from scipy import stats` would load it


for _name in LOADED_AT_FIRST_USE:
    _load_at_first_use(_name)
