"""Run every benchmark in one go and keep the numbers in bench/RESULTS.md.

.venv/bin/python bench/run.py            # all
.venv/bin/python bench/run.py pipeline   # one: pipeline, transforms, check, webhooks
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "pipeline": "pipeline_bench.py",
    "transforms": "transforms_bench.py",
    "check": "check_bench.py",
    "webhooks": "webhooks_bench.py",
}


def main(names: list[str]) -> int:
    failed = []
    for name in names or list(BENCHES):
        script = HERE / BENCHES[name]
        if not script.exists():
            print(f"== {name}: {script.name} is not there, skipped")
            continue
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode:
            failed.append(name)
    print(f"results: {HERE / 'RESULTS.md'}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
