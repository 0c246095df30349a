"""Many runs: a study's plan, the Dask sweep, the cross-run report, the figure sheet."""
