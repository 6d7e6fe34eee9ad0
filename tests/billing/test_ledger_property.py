"""Property: whatever sequence of grants, charges, refunds and top-ups, the ledger adds up."""

from __future__ import annotations

from django.db.models import Sum
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from accounts import services as accounts
from billing import services as billing
from billing.exceptions import InsufficientTokens
from billing.models import LedgerEntry, Wallet

operations = st.lists(
    st.tuples(
        st.sampled_from(["grant", "charge", "refund", "top_up"]),
        st.integers(min_value=1, max_value=3000),
    ),
    max_size=25,
)


class LedgerInvariantTest(TestCase):
    @settings(max_examples=60, deadline=None)
    @given(ops=operations)
    def test_balance_always_equals_the_sum_of_deltas_and_never_goes_negative(self, ops):
        user, _ = accounts.user_register(username="prop", password="s3cret-pass-word")
        expected = 4000
        for op, amount in ops:
            if op == "charge":
                if amount > expected:
                    with self.assertRaises(InsufficientTokens):
                        billing.charge(user=user, amount=amount)
                    continue
                billing.charge(user=user, amount=amount)
                expected -= amount
            elif op == "top_up":
                billing.top_up(user=user, amount=amount, by=None)
                expected += amount
            else:
                getattr(billing, op)(user=user, amount=amount)
                expected += amount

            balance = Wallet.objects.get(pk=user.pk).balance
            entries = LedgerEntry.objects.filter(wallet_id=user.pk)
            assert balance == expected >= 0
            assert entries.aggregate(total=Sum("delta"))["total"] == balance
            newest = entries.order_by("-id").first()
            assert newest is not None and newest.balance_after == balance
