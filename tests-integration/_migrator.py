"""Adds the ``temperature`` parameter to a store in a process of its own, for the kill test.

Usage: python _migrator.py DB_URL TABLE RESULTS_DIR MARKER

After the first chunk of rows it creates MARKER and blocks until it is killed; with MARKER
``-`` it adds the parameter to the end.
"""

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import _manywriters as mw

from entropic import Store


def main() -> None:
    db_url, table, results, marker = sys.argv[1:5]
    store = Store(mw.record_call, mw.heated_model(table), results, ".txt", db_url)
    never = threading.Event()

    def callback(done: int, total: int) -> None:
        if done < total:
            Path(marker).write_text(f"{done}/{total}")
            never.wait()  # until the test kills this process

    store.add_parameter("temperature", 300.0, callback=None if marker == "-" else callback)


if __name__ == "__main__":
    main()
