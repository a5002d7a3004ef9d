"""The command-line layer of the calibration stack (`advisor calibrate | fit | recalibrate | bench`): thin
click commands over calibration.sweep, calibration.fit and calibration.proxy. advisor/cli/__init__.py imports them
lazily, so that the advice commands never pay for torch or pandas."""
