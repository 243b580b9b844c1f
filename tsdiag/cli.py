"""The ``tsdiag`` command line: parse options, call the library, render.

Each subcommand lives in ``tsdiag/commands/<name>.py`` as one small function;
this module only wires them into one Typer app and turns unusable input into
a one-line error with exit code 2.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer.core import TyperGroup

from tsdiag import __version__
from tsdiag.errors import InputError


def _print_error(message: str) -> None:
    from tsdiag.report import make_console

    from rich.markup import escape

    # soft_wrap: one line however long (CI greps it); escape: "[tool.tsdiag]" in a message is text, not markup
    make_console(stderr=True).print(f"[bold red]tsdiag: error:[/] {escape(message)}", markup=True, highlight=False,
                                    soft_wrap=True)


class _Group(TyperGroup):
    """Turns InputError (and OS errors on files) and unusable options into one line and exit code 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        # click's exceptions, wherever this Typer takes click from (newer releases vendor it)
        click = importlib.import_module(typer.BadParameter.__module__)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:  # unknown option, bad value, missing argument: one greppable line
            where = exc.ctx.command_path if exc.ctx is not None else "tsdiag"
            if exc.format_message():  # (no message: the help was shown for a bare `tsdiag`)
                _print_error(f"{where}: {exc.format_message()} (see '{where} --help')")
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            _print_error(exc.format_message())
            sys.exit(exc.exit_code)
        except typer.Abort:
            _print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            _print_error(str(exc))
            raise typer.Exit(2) from None
        except OSError as exc:
            where = exc.filename or "input"
            _print_error(f"{where}: {exc.strerror or exc}")
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Group,
    name="tsdiag",
    help=(
        "Forensics for small language-model training runs that went wrong.\n\n"
        "Examples:\n\n"
        "  tsdiag inspect out/ckpt.pt\n\n"
        "  tsdiag rules TSD-H4-VOCAB"
    ),
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tsdiag {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    # The app's help text is set on the Typer object above.
    pass


def _register() -> None:
    from tsdiag.commands import rules

    app.command("rules")(rules.rules)
    from tsdiag.commands import inspect
    app.command("inspect")(inspect.inspect)
    from tsdiag.commands import retrain
    app.command("retrain")(retrain.retrain)
    from tsdiag.commands import compare
    app.command("compare")(compare.compare)
    from tsdiag.commands import logs
    app.command("logs")(logs.logs)
    from tsdiag.commands import diagnose
    app.command("diagnose")(diagnose.diagnose)
    from tsdiag.commands import sample
    app.command("sample")(sample.sample)
    from tsdiag.commands import eval as eval_command
    app.command("eval")(eval_command.eval_command)
    from tsdiag.commands import demo
    app.command("demo")(demo.demo)
    from tsdiag.commands import audit_data
    app.command("audit-data")(audit_data.audit_data)
    from tsdiag.commands import audit_tokenizer
    app.command("audit-tokenizer")(audit_tokenizer.audit_tokenizer)
    from tsdiag.commands import topk
    app.command("topk")(topk.topk)
    from tsdiag.commands import train_tokenizer
    app.command("train-tokenizer")(train_tokenizer.train_tokenizer)


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="tsdiag")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
