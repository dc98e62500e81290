"""Runs until stopped. With --on-sigterm exit it notes SIGTERM in --record and exits 0 at once; with
--on-sigterm ignore it ignores SIGTERM (the grace period then ends in SIGKILL)."""

import argparse
import os
import signal
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--on-sigterm", type=str, default="exit")
parser.add_argument("--record", type=str, required=True)
parser.add_argument("--seconds", type=float, default=60)
args = parser.parse_args()


def on_sigterm(signum, frame):
    with open(os.path.join(args.record, "sigterm"), "w") as f:
        f.write(str(time.time()))
    if args.on_sigterm == "exit":
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "saved-on-sigterm.txt"), "w") as f:
            f.write("saved")
        sys.exit(0)


signal.signal(signal.SIGTERM, on_sigterm)
with open(os.path.join(args.record, "started"), "w") as f:
    f.write(str(os.getpid()))
deadline = time.time() + args.seconds
while time.time() < deadline:
    time.sleep(0.05)
