"""Fault injection: reusable tools (``tools``) and the F1–F13 scenarios of SECURITY.md §5.2."""
