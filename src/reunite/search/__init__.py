"""Kinship search: unidentified persons against the families of missing persons."""
