"""Stage 2, sweeps: the spec and its presets (spec.py, presets/), trial configs and results (trial.py),
planning (plan.py), the adaptive grid (adaptive.py), the crash-safe store (store.py), executors (local
processes, Ray: executors.py), running (run.py), wall-time estimates (estimate.py), status views
(status.py) and the trial-table export (export.py). Needs torch only where trials actually train."""
