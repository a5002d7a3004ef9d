"""The scaling-rule advisor: learning rate, batch size and recipe for LLM pretraining.

Light by design: this package needs click and the standard library only (the base install), never numpy,
torch, pandas or sklearn.

    from advisor import recommend, plan
    rec = recommend("7B", "2T", model="model.json")   # Recommendation dataclass
    p = plan(gpus=512, days=30, gpu="h100", loss_law="chinchilla", model="model.json")  # Plan dataclass
    cfg = read_model_config("config.json")              # exact counts from a HF or nanoGPT config
    rec = recommend(config="config.json", tokens="2T")  # the recipe for that model
    c = check("7B", "2T", lr=3e-4, batch="4M")           # CheckResult: predicted loss penalty of a plan

`recommend` and `plan` are imported on first use so that `import advisor` stays instant.
"""
__version__ = "0.1.0"

__all__ = ["recommend", "plan", "check", "Recommendation", "Plan", "CheckResult", "FittedModel",
           "read_model_config", "ModelConfig", "__version__"]

_LAZY = {
    "recommend": "advisor.recipe",
    "Recommendation": "advisor.recipe",
    "plan": "advisor.planning",
    "Plan": "advisor.planning",
    "check": "advisor.checking",
    "CheckResult": "advisor.checking",
    "FittedModel": "advisor.model",
    "read_model_config": "advisor.model_config",
    "ModelConfig": "advisor.model_config",
}


def __getattr__(name):
    # Lazy exports (PEP 562): calibration/ imports `advisor.__version__` and must not pay for the rest.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")
