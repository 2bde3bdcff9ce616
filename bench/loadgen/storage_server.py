"""moto's DynamoDB server for the stream benchmarks, with the benchmark's two moto patches installed.

As shipped, moto deep-copies the whole table before every ``TransactWriteItems`` and walks the whole
table for every ``Query``. Each benchmark call adds its call record, stream token and turns to the one
table, so a `make bench` run (a few hundred calls) grew moto to 13 GB until the kernel killed it in the
middle of a capacity step. `bench/moto_transactions.py` and `bench/moto_queries.py` keep moto's answers
and errors and remove the whole-table work. Usage: ``python -m bench.loadgen.storage_server -H HOST -p PORT``.
"""

from __future__ import annotations

import sys

from bench.moto_queries import install_indexed_queries
from bench.moto_transactions import install_item_level_rollback


def main(argv: list[str]) -> None:
    install_item_level_rollback()
    install_indexed_queries()
    from moto.server import main as serve

    serve(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
