"""Retention and erasure of dataset versions, and data subjects' erasure requests (issue 9)."""
