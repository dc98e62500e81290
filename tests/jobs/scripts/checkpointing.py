"""Trains for --epochs, checkpointing after each; resumes from the checkpoint it finds at start.

Every start is recorded in --record (a shared folder): attempt pid and the epoch it resumed from. The model
folder gets the list of epochs this run of the script trained and where it resumed.
"""

import argparse
import json
import os
import time

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--seconds", type=float, default=0.2)
parser.add_argument("--record", type=str, default="")
parser.add_argument("--log-with-sdk", type=int, default=0)
args = parser.parse_args()

# /opt/ml/checkpoints in the container (and with kibako's sandbox); the job folder's own otherwise.
checkpoints = os.path.join(os.path.dirname(os.environ["SM_MODEL_DIR"]), "checkpoints")
state_file = os.path.join(checkpoints, "state.json")
start = 0
if os.path.exists(state_file):
    with open(state_file) as f:
        start = json.load(f)["epoch"] + 1
print(f"resuming from epoch {start}", flush=True)
if args.record:
    with open(os.path.join(args.record, f"start-{os.getpid()}.json"), "w") as f:
        json.dump({"pid": os.getpid(), "resumed_from": start, "time": time.time()}, f)

run = None
if args.log_with_sdk:
    import kibako

    run = kibako.connect().run("ignored-inside-a-job")

for epoch in range(start, args.epochs):
    time.sleep(args.seconds)
    print(f"epoch={epoch} loss={1.0 / (epoch + 1):.4f}", flush=True)
    if run is not None:
        run.log_metric("sdk_epoch", epoch)
        run.flush()
    tmp = state_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"epoch": epoch}, f)
    os.replace(tmp, state_file)

with open(os.path.join(os.environ["SM_MODEL_DIR"], "result.json"), "w") as f:
    json.dump({"resumed_from": start, "epochs": args.epochs}, f)
