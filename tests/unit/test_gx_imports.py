"""What importing the contract package costs: modules GX imports only to offer what this contract
does not use wait for their first use (gx/__init__.py), and still work when something uses them."""

from __future__ import annotations

import subprocess
import sys

from pipelines.settings import PROJECT_DIR

PROBE = """
import sys
import gx
print("scipy" in sys.modules)
import gx.validate
print("scipy.stats._stats_py" in sys.modules)
from scipy import stats
print(round(float(stats.entropy([0.5, 0.5], [0.9, 0.1])), 6))
import scipy.stats
print("scipy.stats._stats_py" in sys.modules and scipy.stats is stats)
"""


def test_scipy_stats_is_imported_at_its_first_use_only() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    scipy_at_once, executed_by_gx, entropy, after = result.stdout.split()
    assert scipy_at_once == "False"  # registering it imports nothing
    assert executed_by_gx == "False"  # importing GX did not run scipy.stats
    assert entropy == "0.510826"  # KL divergence of (.5, .5) from (.9, .1): ln(5/3)
    assert after == "True"  # one module, loaded once, whichever way it is imported
