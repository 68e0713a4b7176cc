"""One module per CLI command; each turns flags into option values and calls the library."""
