"""``python bench/measure.py CMD...``: run CMD, then print its wall time and peak memory as one JSON line.

Run in a process of its own, so that the peak resident memory (``RUSAGE_CHILDREN``) is
CMD's alone.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kilobytes on Linux
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr[-4000:])
print("MEASURE " + json.dumps({"seconds": round(seconds, 2), "peak_mb": round(peak_mb), "returncode": done.returncode}))
