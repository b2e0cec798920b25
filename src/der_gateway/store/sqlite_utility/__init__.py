"""SQLite persistence of the utility's side: customers and where they are, the asset catalog,
aggregators' authorisations, program rules, tariffs, DER assets, enrollments and service tasks.

Mixed into SQLiteStore.  Reads run on the reader connection; every write runs in
one transaction on the writer, where the facts a request depends on are looked up
and judged (by domain.utility) in the same transaction that acts on them, so no
check can go stale before its write.  A refusal raises domain.utility.Rejected and
leaves nothing behind.  Writes that change what a 2030.5 client sees log the
hrefs (log_changes) and queue their sync messages (enqueue_sync) in that same
transaction.
"""

from __future__ import annotations

from .customers import CustomerStore
from .catalog import CatalogStore
from .aggregators import AggregatorStore
from .enrollment import EnrollmentStore
from .service_tasks import ServiceTaskStore
from .membership import MembershipStore


class UtilityStore(CustomerStore, CatalogStore, AggregatorStore, EnrollmentStore, ServiceTaskStore,
                   MembershipStore):
    """The utility's side of the store, one mixin per aggregate."""


__all__ = ["UtilityStore"]
