"""Above the stages: studies that need both the sweep and the fit. Replays of a search on a recorded sweep
(replay.py: the sweep's search methods proposing, recorded runs answering, the fit's local fit scoring),
replays of a calibration design with its laws refitted (replay_law.py), and the calibration design for a
target and a budget that rests on them (design.py, behind `advisor calibrate design`)."""
