"""The statistics (numpy and scipy only): diagnostics, calibrated metrics, simulated nulls, the verdict (n*)."""
