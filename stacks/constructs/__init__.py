"""One construct per concern; the stacks only wire them together."""
