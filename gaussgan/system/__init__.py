"""House rules every stage relies on: files, locks, resources, interrupts, seeds."""
