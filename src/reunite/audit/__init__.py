"""The append-only audit log, each entry chained to the previous one by HMAC-SHA256."""
