"""Kinship genetics: frequencies, pedigrees, mutation models and exact likelihoods."""
