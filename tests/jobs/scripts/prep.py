"""A SageMaker processing script: splits the CSV files it finds in --input into train and test."""

import argparse
import glob
import os

parser = argparse.ArgumentParser()
parser.add_argument("--input", type=str, default="/opt/ml/processing/input/data")
parser.add_argument("--output", type=str, default="/opt/ml/processing/output")
parser.add_argument("--test-ratio", type=float, default=0.25)
args = parser.parse_args()

rows = []
for path in sorted(glob.glob(os.path.join(args.input, "*.csv"))):
    with open(path) as f:
        header, *body = f.read().splitlines()
        rows += body
cut = int(len(rows) * (1 - args.test_ratio))
os.makedirs(os.path.join(args.output, "train"), exist_ok=True)
os.makedirs(os.path.join(args.output, "test"), exist_ok=True)
with open(os.path.join(args.output, "train", "train.csv"), "w") as f:
    f.write("\n".join([header, *rows[:cut]]) + "\n")
with open(os.path.join(args.output, "test", "test.csv"), "w") as f:
    f.write("\n".join([header, *rows[cut:]]) + "\n")
print(f"rows={len(rows)} train={cut} test={len(rows) - cut}", flush=True)
