"""A person's own data: taking it along (export) and leaving (erasure), across every app."""
