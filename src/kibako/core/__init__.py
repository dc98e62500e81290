"""Pure building blocks: configuration, ids and ARNs, the clock, wire serialisation. No I/O, no other kibako."""
