"""The families of stored data whose changes a cache can tell apart (Store.generations).

Each committed write moves on the counter of the family it writes to.  An answer shows data of
the global family and, for a few resources stored apart, of one more; those are written often by
devices and read by nothing else, so their writes leave every other cached answer valid.
"""

GLOBAL = "global"
RESPONSES = "responses"  # the Responses to events: read only by the ResponseSet (/rsps)
MIRRORS = "mirrors"  # the MirrorMeterReadings and their readings: read only by /mup and /upt


def der_documents(end_device_id: int) -> str:
    """One EndDevice's DER documents (DERCapability, DERSettings, DERStatus, DERAvailability),
    read only by GETs of those documents (/edev/{id}/der/{n}/{kind})."""
    return f"der:{end_device_id}"
