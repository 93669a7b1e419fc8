"""Data tables that map GTD and ACLED vocabularies onto ours (a package only so they ship)."""
