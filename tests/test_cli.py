"""Tests for pnpleaves.cli: dispatch, and which errors become one-line messages."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import pnpleaves.cli.stats as stats_command
from pnpleaves.cli import COMMANDS, USER_ERRORS, build_parser, main
from pnpleaves.errors import InputError, InputTypeError, UserError


def _raising(exc):
    def run(args):
        raise exc

    return run


def _python_m_cli(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pnpleaves.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


# ---------------------------------------------------------------------------------- user errors
@pytest.mark.parametrize("exc", [
    UserError("bad input"),
    InputError("bad input"),
    InputTypeError("bad input"),
    FileNotFoundError("bad input"),
    FileExistsError("bad input"),
    IsADirectoryError("bad input"),
    NotADirectoryError("bad input"),
    PermissionError("bad input"),
])
def test_user_errors_become_one_line_with_status_2(monkeypatch, capsys, exc):
    monkeypatch.setattr(stats_command, "run", _raising(exc))
    assert main(["stats", "somewhere"]) == 2
    out = capsys.readouterr()
    assert out.err == "pnpleaves stats: error: bad input\n" and out.out == ""


def test_validation_errors_of_the_library_are_user_errors(tmp_path, capsys):
    assert main(["stats", str(tmp_path), "--max-images", "0"]) == 2  # pnpleaves._checks raises InputError
    assert capsys.readouterr().err == "pnpleaves stats: error: --max-images must be an integer >= 1; got 0.\n"
    assert main(["stats", str(tmp_path / "missing")]) == 2  # a file error of pnpleaves.io
    err = capsys.readouterr().err
    assert err.startswith("pnpleaves stats: error: expected a folder of images") and err.count("\n") == 1


# ---------------------------------------------------------------------------- programming errors
@pytest.mark.parametrize("exc", [ValueError("boom"), TypeError("boom"), RuntimeError("boom"), KeyError("boom")])
def test_programming_errors_propagate_with_their_traceback(monkeypatch, capsys, exc):
    monkeypatch.setattr(stats_command, "run", _raising(exc))
    with pytest.raises(type(exc), match="boom"):
        main(["stats", "somewhere"])
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("flag", ["--debug", "-v", "--verbose"])
def test_debug_and_verbose_show_the_traceback_of_user_errors_too(monkeypatch, flag):
    monkeypatch.setattr(stats_command, "run", _raising(InputError("bad input")))
    with pytest.raises(InputError, match="bad input"):
        main([flag, "stats", "somewhere"])


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    monkeypatch.setattr(stats_command, "run", _raising(KeyboardInterrupt()))
    assert main(["stats", "somewhere"]) == 130
    assert capsys.readouterr().err == "pnpleaves stats: interrupted\n"


def test_user_errors_are_the_documented_ones():
    assert set(USER_ERRORS) == {UserError, FileNotFoundError, FileExistsError, IsADirectoryError,
                                NotADirectoryError, PermissionError}
    assert issubclass(InputError, ValueError) and issubclass(InputTypeError, TypeError)
    assert not issubclass(ValueError, USER_ERRORS) and not issubclass(TypeError, USER_ERRORS)


# -------------------------------------------------------------------------------------- dispatch
def test_main_does_not_modify_sys_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pnpleaves", "unrelated", "--words"])
    seen = []
    monkeypatch.setattr(stats_command, "run", lambda args: seen.append(args.dirs) or 0)
    argv = ["-v", "stats", "a", "b"]
    assert main(argv) == 0
    assert seen == [["a", "b"]]
    assert sys.argv == ["pnpleaves", "unrelated", "--words"] and argv == ["-v", "stats", "a", "b"]


def test_main_reads_sys_argv_when_no_argv_is_given(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pnpleaves", "stats", "from-sys-argv"])
    seen = []
    monkeypatch.setattr(stats_command, "run", lambda args: seen.append(args.dirs) or 0)
    assert main() == 0 and seen == [["from-sys-argv"]]


def test_build_parser_adds_only_the_options_of_the_command_in_argv():
    args = build_parser(["--debug", "stats", "d"]).parse_args(["--debug", "stats", "d", "--bins", "7"])
    assert args.command == "stats" and args.dirs == ["d"] and args.bins == 7 and args.debug
    with pytest.raises(SystemExit):  # without the command in argv, its options are not known
        build_parser([]).parse_args(["stats", "d"])
    assert sorted(build_parser().parse_args([]).__dict__) == ["command", "debug", "verbose"]


def test_no_command_prints_the_list_of_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "--debug" in out and all(name in out for name in COMMANDS)


def test_python_m_pnpleaves_cli():
    res = _python_m_cli("--help")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: pnpleaves") and "stats" in res.stdout and "--debug" in res.stdout
    res = _python_m_cli("stats", "no-such-folder")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith("pnpleaves stats: error: expected a folder of images") and "Traceback" not in res.stderr
    res = _python_m_cli("--debug", "stats", "no-such-folder")
    assert res.returncode == 1 and "Traceback (most recent call last)" in res.stderr
    assert "FileNotFoundError: expected a folder of images" in res.stderr
