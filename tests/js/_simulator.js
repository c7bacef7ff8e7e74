// Starts the Rhetor simulator (`tekton-llm simulate --port 0 ...`) for a test file and stops it.
// The binary comes from $TEKTON_LLM_BIN, else `tekton-llm` on PATH, else the repo's venv.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function simulatorBinary() {
  if (process.env.TEKTON_LLM_BIN) return process.env.TEKTON_LLM_BIN;
  const venv = path.join(__dirname, '..', '..', '.venv', 'bin', 'tekton-llm');
  const onPath = (process.env.PATH || '').split(path.delimiter)
    .some((dir) => dir && fs.existsSync(path.join(dir, 'tekton-llm')));
  return onPath || !fs.existsSync(venv) ? 'tekton-llm' : venv;
}

/** Resolves with {url, close()} once the simulator prints RHETOR_SIMULATOR_URL=... */
function startSimulator(extraArgs = []) {
  const bin = simulatorBinary();
  const child = spawn(bin, ['simulate', '--port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    const fail = (why) => {
      child.kill();
      reject(new Error(`simulator (${bin} simulate) ${why}\nstderr:\n${stderr}`));
    };
    child.on('error', (err) => fail(`could not start: ${err.message}; set TEKTON_LLM_BIN`));
    child.on('exit', (code) => fail(`exited with ${code} before printing its URL`));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /RHETOR_SIMULATOR_URL=(\S+)/.exec(out);
      if (!m) return;
      child.removeAllListeners('exit');
      child.stdout.resume(); // keep draining so the simulator never blocks on a full pipe
      resolve({
        url: m[1],
        close() {
          if (child.exitCode !== null) return Promise.resolve();
          return new Promise((done) => { child.once('exit', () => done()); child.kill(); });
        },
      });
    });
  });
}

module.exports = { startSimulator };
