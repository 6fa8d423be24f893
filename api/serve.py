"""Run one gateway (``python -m api.serve``); gateways are stateless, run as many as needed."""

import argparse

import uvicorn

from api.app import KEEP_ALIVE_SECONDS, create_app
from infra.addresses import running_bootstrap
from infra.orphans import watch_supervisor
from infra.settings import Settings


def main() -> None:
    watch_supervisor()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    overrides = {"host": args.host, "port": args.port}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    bootstrap = args.bootstrap or running_bootstrap(settings)
    if not bootstrap:
        parser.error("no broker: pass --bootstrap or set STOA_KAFKA_BOOTSTRAP")
    uvicorn.run(
        create_app(settings, bootstrap),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


if __name__ == "__main__":
    main()
