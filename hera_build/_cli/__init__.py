"""The ``hera-build`` command line: the only place that prints or exits.

Each command lives in ``hera_build._cli.<name>`` with a ``register(subparsers)`` that adds its parser and
sets ``run``. Errors are caught here once and printed as one line (``error: … (fix: …)``), exit 1;
usage errors exit 2; ``--debug`` (before or after the command) shows the traceback. Exceptions that are not
HeraBuildErrors (an OSError, a bug) get one line too: a traceback is never the interface.

SIGTERM (what CI runners, ``timeout`` and Kubernetes send to stop a job) ends a command like Ctrl-C does: an
exception, so every ``finally`` runs — the image check's container is removed, scratch folders are deleted —
and the exit code is 143. Python's default SIGTERM handling would end the process on the spot and leave them.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from hera_build.errors import ExitCode, HeraBuildError

COMMANDS = ("templates", "lint", "image", "check", "plan", "release", "publish", "run", "init", "docs")
"""Command modules under hera_build.commands, in the order ``--help`` lists them."""

_DESCRIPTION = """\
Version Hera WorkflowTemplates and their runner images from your Python package.

The package version in pyproject.toml decides everything: the image tag (1.2.3+local.7 -> 1.2.3_local.7),
the template names (my-wt -> my-wt-v1-2-3) and the templateRefs into other packages (pinned to the version
your requirements resolve to).

typical use:
  hera-build templates --out dist/argo      write pinned WorkflowTemplates + kustomization.yaml
  hera-build image --push --json            build, push and report the runner image
  hera-build templates --digest sha256:...  pin images to the pushed digest
"""


class _Version(argparse.Action):
    """``--version``, reading the installed version only when asked."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        import hera_build

        sys.stdout.write(f"hera-build {hera_build.__version__}\n")  # on stdout, as argparse's own version action
        parser.exit()


def _chosen(argv: Sequence[str]) -> str | None:
    """The command named on the command line (the first argument that is one), if any."""
    for arg in argv:
        if arg in COMMANDS:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the command line, only the chosen command's module is imported (start-up time is what a
    user waits for on every call), and every command's for ``--help`` or a mistyped command."""
    chosen = _chosen(argv) if argv is not None else None
    parser = argparse.ArgumentParser(
        prog="hera-build", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show hera-build's version and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in (chosen,) if chosen else COMMANDS:
        try:
            module = importlib.import_module(f"hera_build._cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"hera_build._cli.{name}":
                continue
            raise
        module.register(subparsers)
    for command in subparsers.choices.values():  # `hera-build templates --debug` works as well as before the command
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors"
        )
    return parser


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives; a BaseException, so no ``except Exception`` swallows it."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    del frame
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
    raise Terminated(signum)


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While a command runs, SIGTERM raises :class:`Terminated` (so ``finally`` blocks run); restored after."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (main() called from a thread of an embedding program)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    with _sigterm_unwinds():
        code = _run(args)
    if argv is None and getattr(args, "freeze_at_exit", False):
        # The process ends now (main() reads its own command line only as the console script). Python's last
        # cycle collection at exit would walk every object the command made (Hera's model classes: 0.1 s of a
        # 1.1 s `templates` run) to free memory the exit frees anyway; frozen objects are not walked.
        gc.freeze()
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        code: int = args.run(args)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not as an "Exception ignored" at exit
        return code
    except HeraBuildError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("error: terminated (SIGTERM); cleaned up", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:
        # The reader of stdout went away (`hera-build templates --stdout | head`): nothing left to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.USER_ERROR
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, the traceback only with --debug
        if args.debug:
            traceback.print_exc()
        print(f"error: {_unexpected(exc)}", file=sys.stderr)
        return ExitCode.USER_ERROR


def _unexpected(exc: Exception) -> HeraBuildError:
    """An error no HeraBuildError describes: the system's (a full disk, a permission) or a bug of hera-build."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return HeraBuildError(
            f"{exc.strerror}{where}", "check the paths, permissions and free space; --debug shows where it happened"
        )
    return HeraBuildError(
        f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}",
        "this is a bug in hera-build: run again with --debug and report the traceback",
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
