"""ltflow's production worker: settings from the environment, a client, a Worker. Nothing else."""

import asyncio

from ltflow.config import Settings
from ltflow.logs import configure_logging
from ltflow.workflows.runtime import run_worker

if __name__ == "__main__":
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    asyncio.run(run_worker(settings))
