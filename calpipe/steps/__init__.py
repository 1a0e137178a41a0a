"""Generic calibration steps, shared by every instrument.

Each step is a package: ``step.py`` holds the thin Step class (metadata,
Params, process) and ``algorithm.py`` the pure numpy functions, which know
nothing of the framework and are imported only when the step runs.
"""
