"""`manage.py load_demo` (run by `make run`): a staff account, a pizzeria catalog and the shop
FAQ, so a newcomer can order and ask questions at once. Safe to run again; with
`TALLY_ENV=production` it never creates the staff account."""

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
        staff = self._staff()
        added = orders.catalog_load(products=json.loads((DEMO / "catalog.json").read_text()))
        self.stdout.write(f"Catalog: {added} product(s) added.")
        if staff is None:
            self.stdout.write("Shared document 'Shop FAQ': not added (no superuser to own it).")
            return
        faq = DEMO / "shop-faq.md"
        document, created = retrieval.document_upload(
            owner=staff, data=faq.read_bytes(), filename=faq.name, title="Shop FAQ", shared=True
        )
        state = "added" if created else "already there"
        self.stdout.write(f"Shared document {document.title!r}: {state} ({document.status}).")

    def _staff(self) -> User | None:
        """The demo staff account, made if missing; in production never made (its password is
        in the README), so the FAQ goes to the first active superuser, if there is one."""
        username = settings.DEMO_STAFF_USERNAME
        password = settings.DEMO_STAFF_PASSWORD
        if settings.PRODUCTION:
            self.stdout.write("TALLY_ENV=production: no demo staff account is created.")
            return User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        staff = User.objects.filter(username=username).first()
        if staff is not None:
            self.stdout.write(f"Demo staff account exists: {username}")
            return staff
        staff, _ = accounts.user_register(
            username=username, password=password, is_staff=True, is_superuser=True
        )
        self.stdout.write(
            self.style.SUCCESS(f"Demo staff account created: {username} / {password}")
        )
        return staff
