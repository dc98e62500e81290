"""Records when it ran (start and end, wall clock) in --record, for the tests of the worker's slots."""

import argparse
import json
import os
import time

parser = argparse.ArgumentParser()
parser.add_argument("--record", type=str, required=True)
parser.add_argument("--seconds", type=float, default=0.5)
args = parser.parse_args()
start = time.time()
time.sleep(args.seconds)
name = f"{os.environ['TRAINING_JOB_NAME']}-{os.getpid()}.json"
with open(os.path.join(args.record, name), "w") as f:
    json.dump({"job": os.environ["TRAINING_JOB_NAME"], "start": start, "end": time.time()}, f)
