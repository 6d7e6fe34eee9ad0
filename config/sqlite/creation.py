"""Test databases of `config.sqlite`: removed with their writer lock and WAL side files, and
with no idle connection left open on a file that is removed or made again."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from django.db.backends.sqlite3 import creation

from config.sqlite.idle import forget_idle


class DatabaseCreation(creation.DatabaseCreation):
    def _create_test_db(self, verbosity: int, autoclobber: bool, keepdb: bool = False) -> Any:
        name = self._get_test_db_name()  # type: ignore[attr-defined]
        if not self.is_in_memory_db(name):
            forget_idle(name)
        return super()._create_test_db(verbosity, autoclobber, keepdb)  # type: ignore[misc]

    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        if test_database_name and not self.is_in_memory_db(test_database_name):
            forget_idle(test_database_name)
        super()._destroy_test_db(test_database_name, verbosity)  # type: ignore[misc]
        if test_database_name and not self.is_in_memory_db(test_database_name):
            for suffix in (".writer", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"{test_database_name}{suffix}")
