"""The `ebtlab` command line: `ebtlab fit` and `ebtlab validate`."""

import argparse
import logging
import sys
import warnings
from pathlib import Path

from ebtlab.errors import EbtlabError

log = logging.getLogger("ebtlab")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ebtlab", description="Train and evaluate Energy-Based Transformers.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser("fit", help="train a model from a YAML config")
    fit.add_argument("--config", type=Path, help="YAML config file (default: the main job, configs/default.yaml)")
    fit.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    fit.add_argument(
        "--resume",
        metavar="auto|PATH",
        help="continue a run: 'auto' for the newest run of the config's experiment, or a checkpoint file or run folder",
    )
    fit.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. trainer.max_steps=20")

    validate = commands.add_parser("validate", help="evaluate a checkpoint on its validation split")
    validate.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file (.ckpt)")
    validate.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. trainer.limit_val_batches=4")
    return parser


def format_metrics(metrics: dict) -> str:
    """Format metrics as a two-column table."""
    width = max(len(name) for name in metrics)
    rows = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 12}"]
    for name, value in metrics.items():
        formatted = f"{value:,}" if isinstance(value, int) else f"{value:.4f}"
        rows.append(f"{name:<{width}}  {formatted}")
    return "\n".join(rows)


def run_fit(args: argparse.Namespace) -> None:
    from ebtlab.config import load_config, to_yaml

    if args.resume is None:
        checkpoint_path = None
        config, modality_class = load_config(args.config, args.overrides)
    else:
        from ebtlab.checkpoint import read_checkpoint
        from ebtlab.resume import check_run_folder, checkpoint_to_resume, resumed_config

        checkpoint_path, overrides = checkpoint_to_resume(args.resume, args.config, args.overrides)
        config, modality_class = resumed_config(read_checkpoint(checkpoint_path), overrides)
        check_run_folder(checkpoint_path)
    if args.print_config:
        print(to_yaml(config), end="")
        return
    from ebtlab.run import fit

    run_dir, metrics = fit(config, modality_class, resume_from=checkpoint_path)
    print(f"\nResults of {run_dir}:\n{format_metrics(metrics)}")


def run_validate(args: argparse.Namespace) -> None:
    from ebtlab.run import validate

    metrics = validate(args.checkpoint, args.overrides)
    print(f"\nValidation of {args.checkpoint}:\n{format_metrics(metrics)}")


COMMANDS = {"fit": run_fit, "validate": run_validate}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # Lightning prints its own messages; without this they would appear twice.
    logging.getLogger("lightning.pytorch").propagate = False
    # Lightning 2.6.6 calls an API that torch 2.14 deprecates, once per run; users cannot act on it.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    try:
        COMMANDS[args.command](args)
    except EbtlabError as error:
        if args.debug:
            raise
        print(f"ebtlab {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
