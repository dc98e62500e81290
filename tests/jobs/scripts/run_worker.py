"""A worker in a process of its own (what `kibako worker` will be), for the tests that kill one.

Its lease is 1 s, and checkpoints sync every 0.3 s so that a kill mid-job leaves a recent one.
"""

from kibako.core.config import Config
from kibako.jobs import runner
from kibako.jobs.worker import Worker
from kibako.sdk.services import Services

if __name__ == "__main__":
    runner.CHECKPOINT_SYNC_SECONDS = 0.3
    Worker(Services.open(Config.from_env()), lease_seconds=1, poll_seconds=0.05).run()
