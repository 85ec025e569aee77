"""HTML pages and HTMX fragments of the staff dashboard."""
