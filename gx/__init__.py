"""The data contract: Great Expectations suites, checkpoints and the valid/quarantine split.

This folder is both the GX file context (great_expectations.yml, expectations/, checkpoints/,
validation_definitions/; uncommitted/ holds results and data docs) and the Python package that
builds the context and runs it against the warehouse.
"""

import importlib.machinery
import importlib.util
import sys
import threading
import types

# GX imports pyspark and py4j whenever they are installed (make install-spark) to offer Spark data
# sources, which this contract does not use: 0.4 s and pyspark's own warnings in every run. A None
# entry makes their import fail for GX; flows/spark_engine.py lifts it before using Spark.
HIDDEN_FROM_GX = ("pyspark", "py4j")
for _name in HIDDEN_FROM_GX:
    sys.modules.setdefault(_name, None)

# GX imports scipy.stats when it starts, for one expectation this contract does not use (KL
# divergence): over half a second of every run that validates. Registered unexecuted, without
# importing scipy, the module runs at the first use of a name it defines, if any (README,
# "Measured figures").
LOADED_AT_FIRST_USE = ("scipy.stats",)
_LOADING = threading.RLock()


class _LoadedAtFirstUse(types.ModuleType):
    """A module whose code has not run yet: its spec, file and path answer as usual (code that
    walks sys.modules reads them), and the first other name asked for runs the module's code, once,
    under a lock (another thread asking meanwhile waits). While it runs, names it has not yet defined
    are missing, as for any module being imported; if it fails, the module is forgotten, and the
    next import starts afresh."""

    def __getattr__(self, name: str):
        with _LOADING:
            if isinstance(self, _LoadedAtFirstUse):
                self.__class__ = types.ModuleType
                try:
                    self.__spec__.loader.exec_module(self)
                except BaseException:
                    sys.modules.pop(self.__name__, None)
                    raise
        return getattr(self, name)


def _load_at_first_use(name: str) -> None:
    """Register `name` unexecuted. Its parent package is only located, not imported: Python finds
    the module in sys.modules for `import` and `from parent import child` alike."""
    parent, _, child = name.rpartition(".")
    parent_spec = importlib.util.find_spec(parent) if name not in sys.modules else None
    if parent_spec is None or not parent_spec.submodule_search_locations:
        return
    spec = importlib.machinery.PathFinder.find_spec(name, parent_spec.submodule_search_locations)
    if spec is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _LoadedAtFirstUse
    sys.modules[name] = module
    if parent in sys.modules:  # else its import finds the child in sys.modules
        setattr(sys.modules[parent], child, module)


for _name in LOADED_AT_FIRST_USE:
    _load_at_first_use(_name)
