"""Domain types, errors, configuration and calendars. No I/O; depends on nothing else in tftrade."""
