"""The scaling-rule advisor: learning rate, batch size and recipe for LLM pretraining.

Light by design: this package imports numpy at most, never torch, pandas or sklearn.
"""
__version__ = "0.1.0"
