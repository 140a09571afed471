"""polysense.train: experiment configs, the one trainer, run folders.

    from polysense.train import load_config, train, load_run
    result = train(load_config("synthetic-early", ["train.epochs=3"]), "runs/early")
    run = load_run("runs/early")          # .model (eval mode), .tokenizer, .sample_rate, .classes
"""

from polysense.train.config import ConfigError, ExperimentConfig, config_names, load_config
from polysense.train.run import LoadedRun, load_run
from polysense.train.trainer import TrainingError, TrainResult, train

__all__ = ["ConfigError", "ExperimentConfig", "LoadedRun", "TrainResult", "TrainingError", "config_names",
           "load_config", "load_run", "train"]
