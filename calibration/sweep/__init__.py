"""Stage 2, sweeps: the spec and its presets (spec.py, presets/), planning (plan.py), the adaptive grid
(adaptive.py), the crash-safe store (store.py), executors (local processes, Ray: executors.py), running
(run.py), wall-time estimates (estimate.py), status views (status.py) and the trial-table export
(export.py). The trials themselves are calibration/record/trial.py's. Needs torch only where trials train."""
