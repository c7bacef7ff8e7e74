"""The JS client in a real browser: headless Chromium (Debian's chromium + chromium-driver, driven
by selenium) against the Rhetor simulator, which serves the client, its ES-module entry and the
demo page. Needs: apt-get install -y chromium chromium-driver; pip install selenium.
Nothing here is skipped: a missing browser is a failure that says what to install."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

INSTALL_HINT = "apt-get update && apt-get install -y chromium chromium-driver; pip install selenium"
WAIT_SECONDS = 60  # an upper bound for waits, never a performance expectation


def _answer(prompt: str) -> str:
    """The simulator's deterministic answer (its own function when the package exposes one)."""
    try:
        from tekton_llm_client.testing import answer_text  # type: ignore[attr-defined]
    except ImportError:
        try:
            from tekton_llm_client.testing import RhetorSimulator

            answer_text = RhetorSimulator.answer_text  # type: ignore[attr-defined]
        except (ImportError, AttributeError):
            return f"Simulated answer to: {prompt}"
    return str(answer_text(prompt))


def _simulator_command() -> list[str]:
    explicit = os.environ.get("TEKTON_LLM_BIN")
    if explicit:
        return [explicit]
    beside_python = Path(sys.executable).with_name("tekton-llm")
    if beside_python.exists():
        return [str(beside_python)]
    on_path = shutil.which("tekton-llm")
    if on_path:
        return [on_path]
    pytest.fail("the tekton-llm command is not installed (maturin develop / pip install -e .)")


class _Simulator:
    """`tekton-llm simulate --port 0 ...` in a subprocess, until close()."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*_simulator_command(), "simulate", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # blocks until the URL line, or EOF if it died
            match = re.search(r"RHETOR_SIMULATOR_URL=(\S+)", line)
            if match:
                self.url = match.group(1)
                return
        err = self.proc.stderr.read() if self.proc.stderr else ""
        self.close()
        pytest.fail(f"the simulator exited before printing its URL:\n{err}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def sim():
    s = _Simulator()
    yield s
    s.close()


@pytest.fixture(scope="module")
def prefixed_sim():
    s = _Simulator("--path-prefix", "/api/llm")
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    if not chromium or not driver_bin:
        pytest.fail(f"Chromium and chromedriver are required for this test; install them: {INSTALL_HINT}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail(f"selenium is required for this test; install it: {INSTALL_HINT}")
    # Explicit binaries: selenium-manager must not try to download a driver (no network here).
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_bin), options=options)
    driver.set_script_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


def _wait(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_SECONDS).until(lambda d: condition(d))
    except Exception as exc:  # TimeoutException: say what was on the page
        status = driver.find_element("id", "status").text if "/demo" in driver.current_url else "?"
        raise AssertionError(f"waiting for {what}; status={status!r}; page={driver.current_url}") from exc


def _status(driver) -> str:
    return driver.find_element("id", "status").text


def _finished(driver) -> str | None:
    status = _status(driver)
    return status if status == "done" or status.startswith("error") else None


def _uncaught(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Uncaught" in e["message"]]


def test_demo_streams_the_answer_into_the_page(sim, browser):
    prompt = "Hello from Chromium: héllo wörld, 3 € and a 🚀"
    browser.get(f"{sim.url}/demo?prompt={quote(prompt)}&auto=1")
    status = _wait(browser, _finished, "the demo stream to finish")
    assert status == "done"
    assert browser.find_element("id", "response").get_attribute("textContent") == _answer(prompt)
    assert _uncaught(browser) == []


def test_demo_streams_in_many_small_chunks(sim, browser):
    prompt = "one small piece at a time"
    browser.get(f"{sim.url}/demo?prompt={quote(prompt)}&auto=1&sim-chunk-size=1")
    assert _wait(browser, _finished, "the demo stream to finish") == "done"
    assert browser.find_element("id", "response").get_attribute("textContent") == _answer(prompt)


def test_demo_reports_a_stream_that_ends_without_done(sim, browser):
    prompt = "this stream stops early"
    browser.get(f"{sim.url}/demo?prompt={quote(prompt)}&auto=1&sim-no-done-after=2")
    status = _wait(browser, _finished, "the demo stream to fail")
    assert status.startswith("error: StreamInterruptedError"), status
    partial = browser.find_element("id", "response").get_attribute("textContent")
    assert partial and _answer(prompt).startswith(partial) and partial != _answer(prompt)
    assert _uncaught(browser) == []


def test_demo_reports_a_connection_cut_mid_stream(sim, browser):
    prompt = "this stream will be cut"
    browser.get(f"{sim.url}/demo?prompt={quote(prompt)}&auto=1&sim-cut-after=2")
    status = _wait(browser, _finished, "the demo stream to fail")
    assert status.startswith("error: "), status
    # Whatever arrived before the cut stays (a browser may drop bytes that came with the reset).
    partial = browser.find_element("id", "response").get_attribute("textContent")
    assert _answer(prompt).startswith(partial) and partial != _answer(prompt)
    assert _uncaught(browser) == []


# Migration guide step 9, verbatim: it must work exactly as written.
STEP_9 = """
  // Initialize the client
  const client = new TektonLLMClient({
    componentId: 'my-ui-component',
    rhetorUrl: '/api/llm'
  });

  // Generate text
  async function generateResponse() {
    const prompt = document.getElementById('prompt').value;
    try {
      const response = await client.generateText(prompt);
      document.getElementById('response').textContent = response.content;
    } catch (error) {
      console.error("Error:", error);
      document.getElementById('response').textContent = "Error: " + error.message;
    }
  }

  // Stream a response
  function streamResponse() {
    const prompt = document.getElementById('prompt').value;
    const responseEl = document.getElementById('response');
    responseEl.textContent = '';

    client.streamText(
      prompt,
      (chunk) => {
        responseEl.textContent += chunk.chunk;
      }
    );
  }
"""


def _run_step_9(driver) -> None:
    """Adds the guide's <script> to a page that has #prompt, #response and the client loaded."""
    driver.execute_script(
        "const s = document.createElement('script'); s.textContent = arguments[0];document.body.appendChild(s);",
        STEP_9,
    )


def _response_is(text: str):
    return lambda d: d.find_element("id", "response").get_attribute("textContent") == text


def test_guide_step_9_as_written_with_rhetor_behind_api_llm(prefixed_sim, browser):
    # A page on the same origin as Rhetor, which serves its API under /api/llm.
    browser.get(f"{prefixed_sim.url}/demo")
    _run_step_9(browser)
    prompt = "step nine, streamed"
    browser.find_element("id", "prompt").clear()
    browser.find_element("id", "prompt").send_keys(prompt)
    browser.execute_script("streamResponse()")
    _wait(browser, _response_is(_answer(prompt)), "step 9's streamResponse() to fill #response")

    prompt = "step nine, whole"
    browser.find_element("id", "prompt").clear()
    browser.find_element("id", "prompt").send_keys(prompt)
    browser.execute_script("generateResponse()")
    _wait(browser, _response_is(_answer(prompt)), "step 9's generateResponse() to fill #response")

    # '/api/llm' was a prefix: the requests went to /api/llm/api/v1/..., not /api/v1/...
    urls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(u => u.includes('/v1/chat'))"
    )
    origin = prefixed_sim.url
    assert sorted(urls) == [f"{origin}/api/llm/api/v1/chat", f"{origin}/api/llm/api/v1/chat/stream"]
    assert _uncaught(browser) == []


def test_guide_step_9_failing_stream_is_logged_not_an_uncaught_rejection(prefixed_sim, browser):
    browser.get(f"{prefixed_sim.url}/demo")
    _run_step_9(browser)
    browser.get_log("browser")  # drop earlier entries
    # The same fire-and-forget call as step 9 (no await, no onError), on a stream cut short.
    browser.execute_script("client.streamText('doomed', (chunk) => {}, {headers: {'X-Sim-Cut-After': '1'}});")
    logs: list[str] = []

    def failure_logged(d) -> bool:
        logs.extend(e["message"] for e in d.get_log("browser"))
        return any("stream failed" in m for m in logs)

    _wait(browser, failure_logged, "the cut stream's failure to be logged")
    # The rejection follows the log line at once; one more task lets Chrome report it if unhandled.
    browser.execute_async_script("setTimeout(arguments[0], 0)")
    logs.extend(e["message"] for e in browser.get_log("browser"))
    assert not any("Uncaught" in m for m in logs), logs


def test_es_module_entry_loads_in_the_browser(sim, browser):
    # A page without the classic script: the .mjs must bring the client by itself.
    browser.get(f"{sim.url}/static/js/tekton-llm-client.js")
    assert browser.execute_script("return typeof window.TektonLLMClient") == "undefined"
    prompt = "hello from an ES module"
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/static/js/tekton-llm-client.mjs').then(async (m) => {"
        "  const client = new m.TektonLLMClient({componentId: 'esm', rhetorUrl: location.origin});"
        "  const r = await client.generateText(arguments[0]);"
        "  let streamed = '';"
        "  await client.streamText(arguments[0], (c) => { streamed += c.chunk; });"
        "  done({same: m.default === m.TektonLLMClient, content: r.content, streamed});"
        "}).catch((e) => done({error: String(e)}));",
        prompt,
    )
    assert result == {"same": True, "content": _answer(prompt), "streamed": _answer(prompt)}


def test_abort_in_the_browser_is_an_abort_error(sim, browser):
    browser.get(f"{sim.url}/demo")
    name = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const client = new TektonLLMClient({rhetorUrl: location.origin, timeout: 600});"
        "const ac = new AbortController();"
        "client.streamText('cancel me', () => { setTimeout(() => ac.abort(), 0); },"
        "  {signal: ac.signal, onError: () => {}, headers: {'X-Sim-Stall-After': '1'}})"
        "  .then(() => done('resolved'), (e) => done(e.name + '|' + (e instanceof DOMException)"
        "    + '|' + e.message + '|' + (e.partial.length > 0)));"
    )
    assert name == "AbortError|true|request cancelled|true"
