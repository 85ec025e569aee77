"""The purchase saga: everything that makes a purchase's writes safe, beside the purchase service.

- `journal`: the write-ahead record of every attempt that touches stock (file or Redis);
- `locks`: per-product locks in the shared cache;
- `idempotency`: `Idempotency-Key` over every outcome, backed by the journal;
- `saga`: take the stock, register, give back, and resolve unknown outcomes;
- `reconcile`: what `manage.py reconcile` does with attempts left open (a crash, a lost answer).
Import the modules directly; this package imports nothing so the purchase service can use it.
"""
