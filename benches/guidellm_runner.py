"""guidellm (https://github.com/vllm-project/guidellm) as a contender of the accuracy bench, run
as a subprocess from its own venv: `TEKTON_BENCH_GUIDELLM_VENV=/path/to/venv` (made with
`python3 -m venv V && V/bin/pip install guidellm`). Without it the bench reports guidellm as
"not installed"; it never skips it silently.

guidellm needs a Hugging Face tokenizer for its synthetic prompts, and this machine has no
network: a word-level tokenizer (one token per word) is built locally with the venv's own
`tokenizers`. Its JSON gives TTFT and ITL summaries, and per request the time it was due
(`targeted_start`) and the time it was sent (`request_start`), from which the bench takes the
schedule lag and the achieved rate."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

VENV_ENV = "TEKTON_BENCH_GUIDELLM_VENV"

_MAKE_TOKENIZER = """
import sys
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
tok = Tokenizer(models.WordLevel(vocab={"[UNK]": 0}, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(sys.argv[1])
"""


def venv() -> Optional[Path]:
    """The guidellm venv, or None when it is not installed (env var unset or no guidellm in it)."""
    path = os.environ.get(VENV_ENV)
    if not path or not (Path(path) / "bin" / "guidellm").exists():
        return None
    return Path(path)


def _offline_env() -> Dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _run_group(argv: List[str], timeout: float) -> "subprocess.CompletedProcess[str]":
    """Runs guidellm in a session of its own and, however this ends (a timeout, Ctrl-C, the
    bench's own timeout), kills the whole group: its worker processes too, which would
    otherwise go on loading the machine the next measurements run on."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_offline_env(),
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run(url: str, rate: float, count: int, workdir: Path) -> Dict[str, List[float]]:
    root = venv()
    if root is None:
        raise RuntimeError("guidellm is not installed")
    tokenizer = workdir / "word-tokenizer"
    if not tokenizer.exists():
        subprocess.run(
            [str(root / "bin" / "python"), "-c", _MAKE_TOKENIZER, str(tokenizer)],
            check=True,
            capture_output=True,
            env=_offline_env(),
            timeout=300,
        )
    out = workdir / f"guidellm-{rate:g}.json"
    proc = _run_group(
        [
            str(root / "bin" / "guidellm"),
            "run",
            "--backend",
            f"kind=openai_http,target={url},validate_backend=false,model=sim-model-1",
            "--tokenizer",
            f"kind=huggingface_auto,model={tokenizer}",
            "--profile",
            f"kind=constant,rate={rate:g}",
            "--constraint",
            f"kind=max_requests,count={count}",
            "--data",
            "kind=synthetic_text,prompt_tokens=16,output_tokens=20",
            "--output",
            f"kind=json,path={out}",
            "--disable-console-interactive",
        ],
        timeout=900,
    )
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"guidellm failed ({proc.returncode}): {proc.stderr[-800:]}")
    benchmark = json.loads(out.read_text())["benchmarks"][0]
    metrics = benchmark["metrics"]
    done = benchmark["requests"]["successful"]
    timings = [r["info"]["timings"] for r in done]
    starts = sorted(t["request_start"] for t in timings if t.get("request_start"))
    span = starts[-1] - starts[0] if len(starts) > 1 else 0.0

    def stat(name: str, q: str) -> float:
        return float(metrics[name]["successful"]["percentiles"][q])

    return {
        "ttft_p50": [stat("time_to_first_token_ms", "p50")],
        "ttft_p99": [stat("time_to_first_token_ms", "p99")],
        "itl_p50": [stat("inter_token_latency_ms", "p50")],
        "schedule_lag": [
            (t["request_start"] - t["targeted_start"]) * 1e3
            for t in timings
            if t.get("request_start") and t.get("targeted_start")
        ],
        "achieved_rate": [(len(starts) - 1) / span if span > 0 else 0.0],
        "failed": [float(metrics["request_totals"]["errored"])],
    }
