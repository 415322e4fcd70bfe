"""Parked events of a service's projections, from the command line (as ``/ops/parked``).

    python -m shared.eventsourcing.parked <service> list [--projection NAME] [--all]
    python -m shared.eventsourcing.parked <service> retry <projection> [--aggregate ID ...]
        [--event N ...]

``retry`` applies the projection's parked events again after a fix (all of them, or those of
the aggregates named, or the aggregates of the notification ids named): per aggregate in log
order, each once, while the service runs (its runner waits for each event's transaction). See
:mod:`shared.eventsourcing.parking` for what is parked and the order.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from uuid import UUID

from shared.eventsourcing import parking, retry
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.projections import EventLog
from shared.eventsourcing.rebuild import SETTINGS, service_log
from shared.eventsourcing.views import build_view


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log, settings = service_log(args.service)
    env = eventsourcing_env(settings, settings.database)
    if args.command == "list":
        return _list(args, log, env)
    return _retry(args, log, env)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shared.eventsourcing.parked", description=__doc__
    )
    parser.add_argument("service", choices=list(SETTINGS))
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the parked events, oldest first")
    listing.add_argument("--projection")
    listing.add_argument("--all", action="store_true", help="also those applied since")
    listing.add_argument("--limit", type=int, default=1000)
    retrying = commands.add_parser("retry", help="apply parked events again, each once")
    retrying.add_argument("projection")
    retrying.add_argument("--aggregate", type=UUID, action="append", dest="aggregates")
    retrying.add_argument("--event", type=int, action="append", dest="events", metavar="N")
    return parser


def _list(args: argparse.Namespace, log: EventLog, env: dict[str, str]) -> int:
    first = log.projections[0]
    some_view = build_view(first.view, env, first.name)
    with some_view.datastore.transaction(commit=False) as cursor:
        parking.create_schema(cursor)
        rows = parking.listing(
            cursor, projection=args.projection, include_resolved=args.all, limit=args.limit
        )
    for row in rows:
        print(json.dumps(row, default=str))
    print(f"{len(rows)} parked event(s)", file=sys.stderr)
    return 0


def _retry(args: argparse.Namespace, log: EventLog, env: dict[str, str]) -> int:
    projections = {p.name: p for p in log.projections}
    if args.projection not in projections:
        print(f"no projection {args.projection!r} in {args.service}", file=sys.stderr)
        return 2
    projected = projections[args.projection]
    view = build_view(projected.view, env, projected.name)
    app = log.application(env)
    try:
        result = retry.retry_parked(
            projected.over(view),
            app.name,
            retry.notification_reader(app),
            app.mapper.to_domain_event,
            originator_ids=args.aggregates,
            notification_ids=args.events,
        )
    except retry.ViewBusyError as busy:
        print(f"refused: {busy.detail}", file=sys.stderr)
        return 3
    finally:
        app.close()
    print(json.dumps(result.as_dict()))
    return 0 if not result.still_parked else 1


if __name__ == "__main__":
    sys.exit(main())
