"""HTML templates of the reports (Python strings so they ship with the package without package-data rules)."""
