"""Reading files: YAML with positions, the book tree, git revisions."""
