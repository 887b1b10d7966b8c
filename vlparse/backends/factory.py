"""From command-line choices to a family and a backend (created lazily, so resumed runs load nothing)."""

from __future__ import annotations

from collections.abc import Callable

from vlparse.backends.base import Backend
from vlparse.core.errors import UsageError
from vlparse.core.families import Family, get_family, guess_family_from_name
from vlparse.core.options import BackendKind, BackendOptions

#: the backends ``backend_factory`` knows (the recorded one is chosen by ``from_output``)
BACKENDS = BackendKind.values()


def resolve_family(opts: BackendOptions) -> Family:
    """The family decides rendering (factor) and parsing, so it is known before any model loads.

    With a server and no ``--api-model``, the server is asked for its one served model even when ``--family``
    is given: the model's name goes into the results and the resume fingerprint, so a rerun against a server
    that now serves another model redoes the pages instead of resuming them.
    """
    if opts.from_output is None and opts.backend == "openai" and not (opts.api_model or opts.model) \
            and opts.base_urls:
        from vlparse.backends.openai import served_models

        served = served_models(opts.base_urls[0], opts.api_key)
        if len(served) == 1:  # several: the backend asks for --api-model
            opts.api_model = served[0]
    if opts.family:
        return get_family(opts.family)
    if opts.from_output is not None:
        raise UsageError("--from-output needs --family (the answer's coordinate language depends on it)")
    if opts.backend == "openai":
        name = opts.api_model or opts.model
        guess = guess_family_from_name(name or "")
        if guess is None:
            raise UsageError("--backend openai needs --family when the served model's name does not say it "
                             f"({name or 'no single served model'}; e.g. --family qwen2.5-vl)")
        return guess
    from vlparse.backends.local import read_family

    return read_family(opts.model_name, None)[0]


def backend_factory(opts: BackendOptions, family: Family, *, only_page: int | None = None) -> Callable[[], Backend]:
    """``only_page``: the run selects just this page (a single recorded answer is then that page's)."""
    if opts.from_output is not None:
        from vlparse.backends.recorded import RecordedBackend, load_recorded

        answers = load_recorded(opts.from_output)  # read now: a bad path is a usage error up front
        answers.only_page = only_page
        return lambda: RecordedBackend(family, answers)
    if opts.backend == "openai":
        if not opts.base_urls:
            raise UsageError("--backend openai needs --base-url (e.g. --base-url http://127.0.0.1:8000/v1)")

        def make_openai() -> Backend:
            from vlparse.backends.openai import OpenAIBackend

            return OpenAIBackend(family, opts.base_urls, opts.api_model, opts.api_key,
                                 concurrency=opts.concurrency, timeout=opts.timeout)

        return make_openai
    if opts.backend == "vllm":

        def make_vllm() -> Backend:
            from vlparse.backends.vllm_offline import VllmBackend

            return VllmBackend(family, opts.model_name, tensor_parallel_size=opts.tensor_parallel_size,
                               dtype=str(opts.dtype), batch_size=opts.batch_size)

        return make_vllm
    if opts.backend != "local":
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)} (got '{opts.backend}')")

    def make_local() -> Backend:
        from vlparse.backends.local import LoadOptions, LocalBackend

        return LocalBackend(LoadOptions(model=opts.model_name, family=family.name if opts.family else None,
                                        dtype=str(opts.dtype), quant=str(opts.quant), device=opts.device,
                                        attn=str(opts.attn),
                                        batch_size=opts.batch_size, fast=opts.fast))

    return make_local
