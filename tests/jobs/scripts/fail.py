"""Fails: prints a log line, optionally writes SM_OUTPUT_DIR/failure, exits with --code."""

import argparse
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--code", type=int, default=1)
parser.add_argument("--failure-text", type=str, default="")
args = parser.parse_args()
print("starting to train", flush=True)
print("ValueError: the last words of a failing script", flush=True)
if args.failure_text:
    with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as f:
        f.write(args.failure_text)
sys.exit(args.code)
