"""Figures and tables of the attnpaths report (analysis/report.py)."""
