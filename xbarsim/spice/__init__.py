"""ngspice plumbing: model cards, process runner, raw-file and log parsers (parsers take bytes/text)."""
