"""`manage.py load_demo` (run by `make run`): a staff account, a pizzeria catalog and the shop
FAQ, so a newcomer can order and ask questions at once. Safe to run again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts import services as accounts
from accounts.models import User
from orders import services as orders
from retrieval import services as retrieval

DEMO = Path(__file__).resolve().parents[2] / "demo"


class Command(BaseCommand):
    help = "Load the demo staff account, catalog and FAQ (idempotent) and print the credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        username = settings.DEMO_STAFF_USERNAME
        password = settings.DEMO_STAFF_PASSWORD
        staff = User.objects.filter(username=username).first()
        if staff is None:
            staff, _ = accounts.user_register(
                username=username, password=password, is_staff=True, is_superuser=True
            )
            verb = "created"
        else:
            verb = "exists"
        added = orders.catalog_load(products=json.loads((DEMO / "catalog.json").read_text()))
        self.stdout.write(f"Catalog: {added} product(s) added.")
        faq = DEMO / "shop-faq.md"
        document, created = retrieval.document_upload(
            owner=staff, data=faq.read_bytes(), filename=faq.name, title="Shop FAQ", shared=True
        )
        state = "added" if created else "already there"
        self.stdout.write(f"Shared document {document.title!r}: {state} ({document.status}).")
        self.stdout.write(self.style.SUCCESS(f"Demo staff account {verb}: {username} / {password}"))
