"""Results folders and what goes in them: tables, plots, maps, reports."""
