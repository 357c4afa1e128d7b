"""The ``chronoscale`` command line.

    chronoscale demo        train on the built-in real data (no network), print metrics beside
                            the baselines, write reports and plots
    chronoscale train       fit a multi-scale recommender or forecaster and save it (.csm)
    chronoscale evaluate    train (or load) a model, run the leakage-free hold-out beside the
                            baselines, write report.json and PNG plots
    chronoscale recommend   top-K items for given users from a saved recommender
    chronoscale forecast    next periods for every series from a saved forecaster
    chronoscale bench       run the benchmark scripts of a source checkout (bench/python)
    chronoscale info        build and runtime facts as JSON

Configuration: ``--config run.toml`` (see ``chronoscale.cli.config``), ``--set section.key=value``
and the dedicated flags, in increasing precedence. Errors print one line on stderr; the exit
status is 2 for a bad command line, configuration or input, 1 for anything else.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from .config import MINIMUM, UsageError

__all__ = ["UsageError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``chronoscale train: error: ...``), exit status 2."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def int_at_least(minimum: int):
    """An argparse ``type``: an integer ``>= minimum`` (argparse names the flag in its error:
    ``argument --epochs: must be an integer >= 1, got 0``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = f"int >= {minimum}"
    return parse


def positive_float(text: str) -> float:
    """An argparse ``type``: a finite number ``> 0``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def int_for(key: str):
    """The argparse ``type`` of the flag that sets ``key``: ``config.MINIMUM``'s bound, so a
    flag and its ``--set`` / TOML form accept the same integers."""
    return int_at_least(MINIMUM[key])


positive_int = int_at_least(1)
THREADS_HELP = "native threads; 0 = all cores (default: the library's choice)"


def _common(p, task_flags: bool = True, evaluate: bool = False):
    g = p.add_argument_group("configuration")
    g.add_argument("--config", metavar="TOML", help="run configuration file (TOML)")
    g.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting, e.g. --set model.dim=32 (repeatable)")
    g.add_argument("--print-config", action="store_true",
                   help="print the merged configuration as TOML and exit")
    g.add_argument("--out", metavar="DIR", help="output directory (report, plots)" if evaluate
                   else "output directory (the model, model.csm, unless -o names it)")
    g.add_argument("--seed", type=int_for("seed"),
                   help="random seed >= 0 (initialisation, shuffling, sampling)")
    g.add_argument("--threads", type=int_for("threads"), help=THREADS_HELP)
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    if not task_flags:
        return
    d = p.add_argument_group("data")
    d.add_argument("--data", metavar="PATH", help="interaction log (any format of "
                   "chronoscale.data.read_interactions; gzip is fine)")
    d.add_argument("--format", help="its format (detected when omitted)")
    d.add_argument("--test-data", metavar="PATH", help="separate test file (session protocol)")
    d.add_argument("--task", choices=["recommend", "forecast"],
                   help="next-item recommendation or per-series forecasting (default: "
                   "forecast for logs without items, else recommend)")
    d.add_argument("--protocol", choices=["leave-one-out", "temporal", "session"],
                   help="recommendation hold-out (default leave-one-out; session with "
                   "--test-data)")
    if evaluate:
        d.add_argument("--max-test", type=int_for("split.max_test"),
                       help="evaluate a seeded sample of this many targets (recommend task)")
    f = p.add_argument_group("forecasting")
    f.add_argument("--series-by", choices=["user", "item"], help="one series per user or item")
    f.add_argument("--period", help="series resolution, e.g. 1h, 1d, 7d")
    f.add_argument("--what", choices=["value", "count"], help="sum of value or event count")
    f.add_argument("--history", type=int_for("forecast.history"),
                   help="input periods per forecast")
    f.add_argument("--horizon", type=int_for("forecast.horizon"),
                   help="periods forecast (and held out)")
    m = p.add_argument_group("model")
    m.add_argument("--scales", nargs="+", metavar="SCALE",
                   help="time scales: event counts ('1', '4'; '16/4': the last 16 events, "
                        "every 4) or windows ('1h', '1d', '7d')")
    m.add_argument("--cell", choices=["lstm", "gru", "rnn"], help="recurrent cell")
    m.add_argument("--units", type=int_for("model.units"), help="hidden units per scale")
    m.add_argument("--dim", type=int_for("model.dim"), help="item embedding size (recommender)")
    m.add_argument("--max-len", type=int_for("model.max_len"),
                   help="most recent events per history (recommender)")
    m.add_argument("--epochs", type=int_for("model.epochs"), help="training epochs")
    m.add_argument("--batch-size", type=int_for("model.batch_size"),
                   help="mini-batch size (default 64)")
    m.add_argument("--lr", type=positive_float, help="learning rate")
    if evaluate:
        m.add_argument("--no-plots", action="store_true", help="write no PNG plots")


def _flags(a) -> dict:
    get = lambda k: getattr(a, k, None)  # noqa: E731
    return {
        "out": get("out"), "seed": get("seed"), "threads": get("threads"),
        "task": get("task"), "plots": False if get("no_plots") else None,
        "data.path": get("data"), "data.format": get("format"), "data.test_path": get("test_data"),
        "split.protocol": get("protocol"), "split.max_test": get("max_test"),
        "forecast.series_by": get("series_by"), "forecast.period": get("period"),
        "forecast.what": get("what"), "forecast.history": get("history"),
        "forecast.horizon": get("horizon"),
        "model.scales": get("scales"), "model.cell": get("cell"), "model.units": get("units"),
        "model.dim": get("dim"), "model.max_len": get("max_len"), "model.epochs": get("epochs"),
        "model.batch_size": get("batch_size"), "model.learning_rate": get("lr"),
        "eval.baselines": False if get("no_baselines") else None,
    }


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = _Parser(prog="chronoscale", description=__doc__.split("\n\n")[0].split("\n")[0],
                epilog="'chronoscale <command> --help' describes each command.")
    p.add_argument("--version", action="version", version=__version__)
    sub = p.add_subparsers(dest="command", metavar="command", parser_class=_Parser)

    d = sub.add_parser("demo", help="train on the built-in real data and report (offline)",
                       description="Train the multi-scale forecaster on the built-in Open Bandit "
                       "sample (hourly impressions per item; Apache-2.0) and, where the build "
                       "has it, the multi-scale recommender on the built-in OTTO sessions "
                       "(CC BY 4.0); print metrics beside the baselines; write report.json and "
                       "PNG plots under --out.")
    d.add_argument("--out", default="chronoscale-demo", metavar="DIR",
                   help="output directory (default ./chronoscale-demo)")
    d.add_argument("--epochs", type=int_for("model.epochs"),
                   help="training epochs (default 12 forecast, 20 recommend)")
    d.add_argument("--only", choices=["forecast", "recommend"], help="run one part only")
    d.add_argument("--scales", nargs="+", metavar="SCALE", help="forecaster scales "
                   "(default 1h 6h 1d)")
    d.add_argument("--seed", type=int_for("seed"), default=0, help="random seed >= 0 "
                   "(default 0)")
    d.add_argument("--threads", type=int_for("threads"), help=THREADS_HELP)
    d.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    t = sub.add_parser("train", help="fit a model on a dataset and save it (.csm)",
                       description="Fit a multi-scale recommender (next item) or forecaster "
                       "(per-series periods) on the training part of the hold-out and save it "
                       "with its task settings.")
    _common(t)
    t.add_argument("-o", "--output", metavar="MODEL.csm",
                   help="where to save the model (default OUT/model.csm)")

    e = sub.add_parser("evaluate", help="leakage-free evaluation beside the baselines, "
                       "JSON report and plots",
                       description="Train a model (or load one with --model) and evaluate it "
                       "and the baselines on the hold-out; write OUT/report.json and plots.")
    _common(e, evaluate=True)
    e.add_argument("--model", metavar="MODEL.csm", help="evaluate this saved model instead of "
                   "training (its saved configuration is the default; a task, forecast or "
                   "model setting that contradicts it is refused)")
    e.add_argument("--no-baselines", action="store_true", help="evaluate the model only")

    r = sub.add_parser("recommend", help="top-K items for users from a saved recommender",
                       description="Load a recommender saved by 'chronoscale train', read the "
                       "users' histories from the data and print their top-K items (original "
                       "ids). Items seen in the history are left out unless --include-seen.")
    r.add_argument("--model", required=True, metavar="MODEL.csm")
    r.add_argument("--data", metavar="PATH", help="log with the histories (default: the "
                   "training data)")
    r.add_argument("--format")
    r.add_argument("--users", nargs="+", metavar="ID", help="user ids (default: the first 5)")
    r.add_argument("-k", type=positive_int, default=10, help="items per user (default 10)")
    r.add_argument("--include-seen", action="store_true", help="also recommend seen items")
    r.add_argument("-o", "--output", metavar="CSV", help="write user,rank,item,score here too")

    f = sub.add_parser("forecast", help="forecast the next periods from a saved forecaster",
                       description="Load a forecaster saved by 'chronoscale train', build each "
                       "series from the data and forecast the HORIZON periods after its end.")
    f.add_argument("--model", required=True, metavar="MODEL.csm")
    f.add_argument("--data", metavar="PATH", help="log to forecast from (default: the "
                   "training data)")
    f.add_argument("--format")
    f.add_argument("--series", nargs="+", metavar="ID", help="only these series (user/item ids)")
    f.add_argument("-o", "--output", metavar="CSV", help="CSV file (default: standard output)")

    b = sub.add_parser("bench", help="run a benchmark script of a source checkout",
                       description="Run bench/python/<NAME>.py of the source checkout this "
                       "chronoscale was installed from, with ARGS. Without NAME, list them.")
    b.add_argument("name", nargs="?", help="script name (e.g. accuracy, compare_seed)")
    b.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")

    sub.add_parser("info", help="print build and runtime facts as JSON",
                   description="Version, CUDA, BLAS, threads and SIMD of this build as JSON.")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    command = "chronoscale"
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        command = f"chronoscale {args.command}"
        from . import commands

        return getattr(commands, args.command)(args, _flags(args))
    except UsageError as e:
        _error(command, str(e))
        return 2
    except (ValueError, TypeError, KeyError, OSError) as e:
        _error(command, str(e) if not isinstance(e, KeyError) else f"missing {e}")
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the CLI's last line of defence: one line, exit 1
        _error(command, f"{type(e).__name__}: {e}")
        return 1


def _error(command: str, message: str) -> None:
    one_line = " ".join(message.split())
    print(f"{command}: error: {one_line}", file=sys.stderr, flush=True)


def _json(obj) -> str:
    return json.dumps(obj, indent=2)


if __name__ == "__main__":
    sys.exit(main())
