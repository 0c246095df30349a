"""Datasets: the HDF5 layout and gen-samples.py's loop."""
