"""The command line itself: version, help with an example per command, env, usage errors."""

import json

from vlparse import __version__


def test_version(cli):
    res = cli("--version")
    assert res.exit_code == 0 and res.stdout.strip() == f"vlparse {__version__}"


def test_help_lists_every_command_with_an_example(cli):
    res = cli("--help")
    assert res.exit_code == 0
    for command in ("doc", "ground", "render", "bench", "env"):
        assert f"vlparse {command} " in res.stdout, command
    assert "Exit codes" in res.stdout


def test_env_reports_versions_devices_and_families(cli):
    res = cli("env", "--json")
    assert res.exit_code == 0
    info = json.loads(res.stdout)
    assert info["packages"]["transformers"] and info["packages"]["torch"]
    assert "bitsandbytes" in info["packages"] and "available" in info["cuda"]
    assert {f["name"] for f in info["families"]} == {"qwen-vl", "qwen2-vl", "qwen2.5-vl", "qwen3-vl"}
    assert info["default_model"] == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_unknown_command_and_option_are_usage_errors(cli):
    assert cli("frobnicate").exit_code == 2
    res = cli("render", "x.pdf", "-o", "o", "--no-such-option")
    assert res.exit_code == 2 and "Traceback" not in res.stderr


def test_unknown_family_is_one_line_and_exit_3(cli, tmp_path):
    res = cli("render", tmp_path / "x.pdf", "-o", tmp_path / "o", "--family", "llava")
    assert res.exit_code == 3
    assert res.stderr.strip().splitlines() == ["vlparse: error: unknown model family 'llava' (choose from: qwen-vl, "
                                               "qwen2-vl, qwen2.5-vl, qwen3-vl)"]


def test_vlparse_model_environment_variable_picks_the_model(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("VLPARSE_MODEL", str(tmp_path / "my-model"))
    from pdfs import make_pdf

    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    res = cli("doc", pdf, "-o", tmp_path / "a.json")
    assert res.exit_code == 3 and "my-model does not exist" in res.stderr
