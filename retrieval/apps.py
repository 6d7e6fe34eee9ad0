"""The retrieval app's configuration."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class RetrievalConfig(AppConfig):
    name = "retrieval"
    verbose_name = "Retrieval"

    def ready(self) -> None:
        import faiss

        # One thread per search: the server already runs a worker per core, and OpenMP threads
        # spinning for a busy core turned an 8 ms search into 44 ms at p99 under load. The
        # settings put the count in OMP_NUM_THREADS for every thread; this covers the calling
        # thread too when FAISS was loaded before them (a script importing it first).
        faiss.omp_set_num_threads(settings.RETRIEVAL_SEARCH_THREADS)
