"""The bottom layer: errors, registries, atomic I/O, console, the formats table, records, options and the cache."""
