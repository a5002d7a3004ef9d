"""Below the stages: the trial record (trial.py: TrialConfig, TrialResult and its row of the trial table,
contract 1 of docs/architecture.md, and code_version) and the local model a cell's optimum is read through
(local_model.py: which model the points support, how many trials it needs). The trainer (calibration/proxy), the sweep and the
fit all read and write it, so it imports none of them. Pure Python: no torch, numpy or pandas."""
