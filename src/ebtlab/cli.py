"""The `ebtlab` command line: `fit`, `compare`, `bench`, `think`, `generate`, `validate` and `test`."""

import argparse
import logging
import sys
import warnings
from pathlib import Path

from ebtlab.errors import EbtlabError

# The grid of `ebtlab think`, kept here so that `--help` does not import torch.
DEFAULT_STEPS = (1, 2, 3, 4, 6)
DEFAULT_CANDIDATES = (1, 2, 4, 8)

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

    compare = commands.add_parser("compare", help="train an EBT and its autoregressive baseline and compare them")
    compare.add_argument("--config", type=Path, required=True, help="YAML config of the EBT; the baseline is derived from it")
    compare.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, applied to both models")

    bench = commands.add_parser("bench", help="measure training-step cost of an EBT against its baseline")
    bench.add_argument("--config", type=Path, help="YAML config of the EBT (default: the main job, configs/default.yaml)")
    bench.add_argument("--repetitions", type=int, default=5, help="timed training steps per model; the median is reported (default 5)")
    bench.add_argument("--warmup", type=int, default=2, help="untimed training steps before timing (default 2)")
    bench.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. data.batch_size=16")

    think = commands.add_parser("think", help="evaluate a checkpoint over a grid of descent steps and candidates")
    think.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file (.ckpt) of an EBT or a baseline")
    think.add_argument("--baseline", type=Path, help="a baseline checkpoint to draw as a flat line in the plot")
    think.add_argument("--steps", type=positive_integers, default=list(DEFAULT_STEPS), help="descent steps K, comma-separated (default 1,2,3,4,6)")
    think.add_argument("--candidates", type=positive_integers, default=list(DEFAULT_CANDIDATES), help="candidates N, comma-separated (default 1,2,4,8)")
    think.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. thinking.langevin_noise_std=1.0")

    generate = commands.add_parser("generate", help="continue a prompt with an EBT or a baseline checkpoint")
    generate.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file (.ckpt)")
    generate.add_argument("--prompt", required=True, help="what to continue: text for text models; other modalities document their form (a WAV file for audio)")
    generate.add_argument("--max-new-units", type=int, default=64, help="units (tokens for text) to generate (default 64)")
    generate.add_argument("--temperature", type=float, default=0.0, help="0 for greedy decoding, above 0 to sample at that temperature (default 0)")
    generate.add_argument("--no-cache", action="store_true", help="recompute the whole sequence for every unit instead of using the KV cache")
    generate.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. thinking.candidates=4")

    validate = commands.add_parser("validate", help="evaluate a checkpoint on its validation split")
    validate.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file (.ckpt)")
    validate.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. trainer.limit_val_batches=4")

    test = commands.add_parser("test", help="evaluate a checkpoint on its test split")
    test.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file (.ckpt)")
    test.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides; trainer.limit_val_batches also limits test batches")
    return parser


def positive_integers(text: str) -> list[int]:
    """Parse a comma-separated list of positive integers, such as 1,2,4."""
    try:
        values = [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


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

    checkpoint_path, modality_state = None, None
    if args.resume is None:
        config, modality_class = load_config(args.config, args.overrides)
    else:
        from ebtlab.checkpoint import RUN_STATE_KEY, read_checkpoint
        from ebtlab.resume import check_run_folder, checkpoint_to_resume, resumed_config

        checkpoint_path, overrides = checkpoint_to_resume(args.resume, args.config, args.overrides)
        checkpoint = read_checkpoint(checkpoint_path)
        config, modality_class = resumed_config(checkpoint, overrides)
        modality_state = checkpoint[RUN_STATE_KEY]["modality_state"]
        check_run_folder(checkpoint_path)
    if args.print_config:
        print(to_yaml(config), end="")
        return
    from ebtlab.run import fit, prepare_modality

    modality = prepare_modality(config, modality_class, modality_state)
    run_dir, metrics = fit(config, modality, resume_from=checkpoint_path)
    print(f"\nResults of {run_dir}:\n{format_metrics(metrics)}")


def run_compare(args: argparse.Namespace) -> None:
    from ebtlab.compare import compare, comparison_table, thinking_summary
    from ebtlab.config import load_config
    from ebtlab.run import prepare_modality

    config, modality_class = load_config(args.config, args.overrides)
    run_dir, report = compare(config, prepare_modality(config, modality_class))
    print(f"\nComparison in {run_dir}:\n{comparison_table(report['models'])}\n\n{thinking_summary(report['thinking'])}")


def run_bench(args: argparse.Namespace) -> None:
    from ebtlab.bench import bench, bench_table
    from ebtlab.config import load_config
    from ebtlab.run import prepare_modality

    config, modality_class = load_config(args.config, args.overrides)
    run_dir, report = bench(config, prepare_modality(config, modality_class), repetitions=args.repetitions, warmup=args.warmup)
    print(f"\nBench in {run_dir}:\n{bench_table(report)}")


def run_think(args: argparse.Namespace) -> None:
    from ebtlab.think import think, think_tables

    run_dir, report = think(args.checkpoint, args.overrides, steps=args.steps, candidates=args.candidates, baseline=args.baseline)
    print(f"\nThinking report in {run_dir}:\n{think_tables(report)}")


def run_generate(args: argparse.Namespace) -> None:
    from ebtlab.generate import generate_from_checkpoint

    run_dir, report = generate_from_checkpoint(
        args.checkpoint, args.prompt, args.overrides, new_units=args.max_new_units, temperature=args.temperature, cached=not args.no_cache
    )
    print(f"\n{report['rendered']}\n")
    print(f"{report['architecture']}: {report['new_units']} units in {report['seconds']:.2f} s, {report['units_per_second']:.1f} units/s; report in {run_dir}")
    for name in report["files"]:
        print(f"wrote {run_dir / name}")


def run_validate(args: argparse.Namespace) -> None:
    from ebtlab.run import validate

    metrics = validate(args.checkpoint, args.overrides)
    print(f"\nValidation of {args.checkpoint}:\n{format_metrics(metrics)}")


def run_test(args: argparse.Namespace) -> None:
    from ebtlab.run import validate

    metrics = validate(args.checkpoint, args.overrides, split="test")
    print(f"\nTest of {args.checkpoint}:\n{format_metrics(metrics)}")


COMMANDS = {"fit": run_fit, "compare": run_compare, "bench": run_bench, "think": run_think, "generate": run_generate, "validate": run_validate, "test": run_test}


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
