"""Reports built from an analysis: daily check, export, groups. They compute, never print."""
