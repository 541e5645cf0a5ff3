"""The ``attnzoo`` command (Typer), generated from the registry.

    attnzoo models [MODEL]                      the models, their papers, presets and pictures
    attnzoo train MODEL --out DIR [--preset P] [--set field=value ...] [options]
    attnzoo evaluate RUN [--split test] [--task field=value ...]
    attnzoo plot RUN --picture NAME --out FILE
    attnzoo translate RUN TEXT [--beam K] [--plot FILE]     (sequence models)
    attnzoo explore RUN [--out page.html] [--inputs FILE]   one offline HTML page of the run's attention
    attnzoo serve RUN [--port 8000]             a local web app: type an input, see its attention
    attnzoo demo
    attnzoo NAME RUN ARGUMENT... [--out FILE] [--example]   a recipe's own command (caption, classify, ...)

Nothing here knows a model: commands ask the registry and the model's recipe. Bad input ends with
one line on stderr (``attnzoo: error: ...``) and exit status 2, never a traceback.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from typing import Any

import typer

from attnzoo.cli.train import DEFAULT_THREADS, make_train_command

app = typer.Typer(
    help="attnzoo: attention mechanisms and the models built on them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
train_app = typer.Typer(help="Train a model: attnzoo train MODEL --help.", no_args_is_help=True)
app.add_typer(train_app, name="train")

RunDir = typer.Argument(..., help="A run directory written by `attnzoo train`.")
EXPECTED_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, KeyError)


def fail(message: str) -> None:
    """Print ``attnzoo: error: message`` on stderr and exit with status 2."""
    typer.echo(f"attnzoo: error: {message}", err=True)
    raise typer.Exit(2)


def one_line_errors(function: Any) -> Any:
    """Turn the expected errors of a command (bad values, missing files) into one line and exit 2."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except EXPECTED_ERRORS as error:
            fail(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)

    return wrapper


@app.callback()
def main() -> None:
    """Line-buffered output, so a run under nohup or in a pipe shows its progress as it goes."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)


def open_run(run_dir: Path) -> Any:
    from attnzoo.training.run import Run

    run = Run(run_dir)
    run.model_name  # noqa: B018 -- reading config.json: a clear error if this is not a run
    return run


@app.command()
@one_line_errors
def models(name: str | None = typer.Argument(None, help="Show this model's presets and fields.")) -> None:
    """List the models (name, paper, presets, pictures), or one model's presets and settings."""
    from attnzoo.cli.tables import model_details, model_table

    if name is None:
        model_table()
    else:
        model_details(name)


@app.command()
@one_line_errors
def evaluate(
    run_dir: Path = RunDir,
    split: str = typer.Option("test", help="train, valid or test."),
    task: list[str] | None = typer.Option(None, help="FIELD=VALUE of the task to evaluate on (e.g. a longer length)."),
    data: Path | None = typer.Option(None, help="Text models: score on this source<TAB>reference file instead."),
    beam: int = typer.Option(1, help="Text models: beam size (1: greedy)."),
    threads: int = typer.Option(DEFAULT_THREADS, help="torch CPU threads."),
) -> None:
    """Evaluate a trained run on a split (or, text models, on a TSV file) and print the recipe's metrics."""
    from attnzoo.cli.tables import print_metrics
    from attnzoo.registry import parse_assignments
    from attnzoo.training.machine import set_threads

    set_threads(threads)
    run = open_run(run_dir)
    if split not in ("train", "valid", "test"):
        fail(f"--split: expected train, valid or test, got {split!r}")
    overrides = parse_assignments(run.recipe().Task, task or [], what="--task")
    pairs = None
    if data is not None:
        from attnzoo.tasks.corpus import read_whole_tsv

        pairs = read_whole_tsv(data, run.recipe().settings.column_numbers())
    metrics = run.evaluate(pairs, split=split, beam=beam, task_settings=overrides)
    title = split if data is None and beam == 1 else f"{data.name if data else split}, beam {beam}"
    print_metrics(f"{run.model_name}, {title}", metrics)
    if hasattr(run.recipe(), "metric_note"):
        typer.echo(run.recipe().metric_note())


@app.command()
@one_line_errors
def plot(
    run_dir: Path = RunDir,
    picture: str | None = typer.Option(None, help="The picture's name (the run's recipe lists them)."),
    out: Path = typer.Option(..., help="The file to write (PNG, SVG or PDF)."),
) -> None:
    """Draw one of a run's attention pictures to a file."""
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        fail(f"--out: expected a file name ending in .png, .svg or .pdf, got {str(out)!r}")
    run = open_run(run_dir)
    recipe = run.recipe()
    pictures = recipe.pictures(run.config())
    if not pictures and not run.read_formation()["snapshots"]:
        fail(f"{run_dir}: this {run.model_name} model has no attention picture")
    if run.read_formation()["snapshots"]:
        pictures = {**pictures, "formation": lambda model, task, path: plot_run_formation(run, path)}
    if picture not in pictures:
        fail(f"--picture: expected one of {', '.join(pictures)}; got {picture!r}")
    pictures[picture](run.load_model(), run.build_task(recipe), out)
    typer.echo(f"wrote {out}")


@app.command()
@one_line_errors
def translate(
    run_dir: Path = RunDir,
    text: str | None = typer.Argument(None, help="The source text (or give --input)."),
    input: Path | None = typer.Option(None, "--input", help="Translate every line of this file (- : stdin)."),
    output: Path | None = typer.Option(None, help="Write the translations here, a line each (default: stdout)."),
    beam: int = typer.Option(1, help="Beam size (1: greedy)."),
    batch_size: int = typer.Option(64, help="Lines decoded at once (sorted by length)."),
    plot: Path | None = typer.Option(None, help="TEXT only: also draw its attention to this file."),
    threads: int = typer.Option(DEFAULT_THREADS, help="torch CPU threads."),
) -> None:
    """Translate TEXT, or every line of --input (a file or - for stdin), with a trained text run."""
    from attnzoo.training.machine import set_threads

    set_threads(threads)
    if beam < 1 or batch_size < 1:
        fail(f"--beam and --batch-size: expected >= 1, got {beam} and {batch_size}")
    if (text is None) == (input is None):
        fail("give the TEXT to translate or --input FILE (- for stdin), not both")
    run = open_run(run_dir)
    recipe = run.recipe()
    if not hasattr(recipe, "translate"):
        fail(f"{run_dir} holds a {run.model_name} model, which does not translate text")
    model, task = run.load_model(), run.build_task(recipe)
    texts = [text] if text is not None else read_lines(input)
    lines = recipe.translate_many(model, task, texts, beam, batch_size)
    if output is None:
        for line in lines:
            typer.echo(line)
    else:
        output.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        typer.echo(f"wrote {len(lines)} translations to {output}", err=True)
    if plot is not None:
        draw_translation(recipe, run, model, task, text, plot)


def plot_run_formation(run: Any, path: Path) -> None:
    """The ``formation`` picture: the run's recorded probe attention as a strip of snapshots."""
    from attnzoo.viz.formation import plot_formation

    plot_formation(run.read_formation()["snapshots"], path, title=f"{run.model_name}: attention as it formed")


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 file, or of stdin for ``-``."""
    if str(path) == "-":
        return sys.stdin.read().splitlines()
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not valid UTF-8 ({error.reason} at byte {error.start})") from None


def draw_translation(recipe: Any, run: Any, model: Any, task: Any, text: str | None, plot: Path) -> None:
    """Draw the attention of ``text`` (the first picture of the recipe) to ``plot``."""
    if text is None:
        fail("--plot draws one sentence: give TEXT, not --input")
    pictures = recipe.pictures(run.config())
    if not pictures:
        fail(f"{run.path} has no attention (attention='none'): nothing to plot")
    next(iter(pictures.values()))(model, task, plot, text=text)
    typer.echo(f"wrote {plot}")


@app.command()
@one_line_errors
def explore(
    run_dir: Path = RunDir,
    out: Path | None = typer.Option(None, help="The HTML file to write (default: RUN/explorer.html)."),
    inputs: Path | None = typer.Option(None, help="Show these inputs (one per line) instead of the test examples."),
    threads: int = typer.Option(DEFAULT_THREADS, help="torch CPU threads."),
) -> None:
    """Write ONE self-contained HTML page (no network needed) of the run's attention and how it formed."""
    from attnzoo.explorer.page import read_inputs, write_page
    from attnzoo.training.machine import set_threads

    set_threads(threads)
    run = open_run(run_dir)
    out = out or run.file("explorer.html")
    count = write_page(run, out, read_inputs(inputs) if inputs is not None else None)
    typer.echo(f"wrote {out} ({count} views); open it in a browser: {out.resolve().as_uri()}")


@app.command()
@one_line_errors
def serve(
    run_dir: Path = RunDir,
    port: int = typer.Option(8000, help="The port to listen on."),
    host: str = typer.Option("127.0.0.1", help="The address to bind (127.0.0.1: this machine only)."),
    threads: int = typer.Option(DEFAULT_THREADS, help="torch CPU threads."),
) -> None:
    """A local web app: type (or upload) an input, see the model's output and attention live."""
    from attnzoo.explorer.server import serve_run
    from attnzoo.training.machine import set_threads

    set_threads(threads)
    if not 0 < port < 65536:
        fail(f"--port: expected 1..65535, got {port}")
    serve_run(open_run(run_dir), host, port)


@app.command()
@one_line_errors
def demo(
    threads: int = typer.Option(DEFAULT_THREADS, help="torch CPU threads."),
    out: Path = typer.Option(Path("runs/demo"), help="The run directory (replaced if it holds an earlier demo)."),
    picture: Path = typer.Option(Path("alignment.png"), help="Where to draw the alignment."),
) -> None:
    """Train Bahdanau attention on the dates task, print accuracy and examples, draw the alignment."""
    from attnzoo.cli.demo import run_demo

    run_demo(out, picture, threads)


def run_training(name: str, values: dict[str, Any], **settings: Any) -> None:
    """Train ``name`` with the options of ``attnzoo train NAME``, then print where the run is."""
    from attnzoo.cli.tables import print_metrics
    from attnzoo.training import train

    run = train(
        name,
        values["out"],
        preset=values["preset"],
        resume=values["resume"],
        overwrite=values["overwrite"],
        devices=values["devices"],
        num_nodes=values["num_nodes"],
        accelerator=values["accelerator"],
        threads=values["threads"],
        progress=values["progress"],
        **settings,
    )
    if run.file("metrics.json").is_file():  # the first process of a data-parallel run
        metrics = run.read_json("metrics.json")
        print_metrics(f"{name}, valid", {k: v for k, v in metrics.items() if k not in ("step", "kept_step")})
        typer.echo(f"wrote {run.path}; evaluate with: attnzoo evaluate {run.path}")


def run() -> None:
    """The console entry point: the app, with usage errors (an unknown option, a missing value) as one line."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="attnzoo", standalone_mode=False)
    except Exception as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # `attnzoo` or `attnzoo train` alone: help, shown
            sys.exit(0)
        if not hasattr(error, "format_message"):  # not a usage error of the command line
            raise
        where = f" (see: {error.ctx.command_path} --help)" if getattr(error, "ctx", None) else ""
        typer.echo(f"attnzoo: error: {error.format_message()}{where}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def run_recipe_command(name: str, run_dir: Path, arguments: list[str], out: Path | None, example: bool) -> None:
    """``attnzoo NAME RUN ARGUMENT...``: the command ``name`` of the run's recipe, on the user's input."""
    run = open_run(run_dir)
    recipe = run.recipe()
    command = recipe.commands().get(name)
    if command is None:
        fail(f"{run_dir} holds a {run.model_name} model, which has no `{name}` command")
    if len(arguments) != len(command.arguments):
        fail(
            f"attnzoo {name} RUN {' '.join(command.arguments)}: expected {len(command.arguments)} "
            f"argument(s) after RUN, got {len(arguments)}"
        )
    task = run.build_task(recipe)
    if example:
        if command.example is None:
            fail(f"`attnzoo {name}` of a {run.model_name} model has no example input")
        command.example(task, arguments)
    typer.echo(command.run(run.load_model(), task, arguments, out))


def make_recipe_command(name: str, offered: dict[str, Any]) -> Any:
    """The Typer function of ``attnzoo NAME``, offered by the recipes in ``offered`` (model -> Command)."""
    first = next(iter(offered.values()))
    usage = " | ".join(sorted({" ".join(command.arguments) for command in offered.values()}))

    def command(
        run_dir: Path = RunDir,
        arguments: list[str] | None = typer.Argument(None, help=f"{usage or 'none'}.", show_default=False),
        out: Path | None = typer.Option(None, help="Also draw the attention (or the picture) to this file."),
        example: bool = typer.Option(False, "--example", help="First write an example input at the file arguments."),
        threads: int = typer.Option(DEFAULT_THREADS, help="torch CPU threads."),
    ) -> None:
        from attnzoo.training.machine import set_threads

        set_threads(threads)
        run_recipe_command(name, run_dir, arguments or [], out, example)

    command.__doc__ = f"{first.help} (runs of: {', '.join(sorted(offered))})"
    return command


def _register_train_commands() -> None:
    """``attnzoo train NAME`` for every registered model, and the recipes' own commands."""
    from attnzoo.registry import config_class, entry, list_models, load_recipe

    offered: dict[str, dict[str, Any]] = {}
    for name in list_models():
        if importlib.util.find_spec(f"{entry(name).package}.recipe") is None:
            continue  # a model folder without a recipe builds, but does not train
        recipe = load_recipe(name)
        command = make_train_command(name, recipe, config_class(name), run_training)
        train_app.command(name, help=command.__doc__)(one_line_errors(command))
        for command_name, recipe_command in recipe.commands().items():
            offered.setdefault(command_name, {})[name] = recipe_command
    taken = {info.name or info.callback.__name__ for info in app.registered_commands}
    for command_name, models_offering in sorted(offered.items()):
        if command_name in taken:
            raise ValueError(f"recipe command {command_name!r} of {', '.join(models_offering)} is a built-in command")
        function = make_recipe_command(command_name, models_offering)
        app.command(command_name, help=function.__doc__)(one_line_errors(function))


_register_train_commands()
