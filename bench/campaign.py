"""The full fault campaign (issue 5): 10,000 randomised 30-day runs of
examples/campaigns/power-cuts.toml on every CPU, every invariant checked after each run.
CI runs a few hundred (tests/test_campaign.py); this is the full count. Usage, from the repo
root: python bench/campaign.py [--runs N] [--seed S] [--jobs J] [--out DIR]"""
import os
import sys

from pumpctl.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--runs" not in args:
        args += ["--runs", "10000"]
    if "--out" not in args:
        args += ["--out", os.path.join(ROOT, "bench", "campaign-out")]
    sys.exit(main(["campaign", os.path.join(ROOT, "examples", "campaigns", "power-cuts.toml")]
                  + args))
