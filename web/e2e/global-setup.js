// Builds the relay and the CLI once before the tests (unless prebuilt binaries are given
// through CONFIDANT_RELAY_BIN / CONFIDANT_CLI_BIN).
import { execFileSync } from 'node:child_process';
import { repoRoot } from './relay.js';

export default function globalSetup() {
  if (process.env.CONFIDANT_RELAY_BIN && process.env.CONFIDANT_CLI_BIN) return;
  execFileSync('cargo', ['build', '-p', 'confidant-relay-bin', '-p', 'confidant-cli'], {
    cwd: repoRoot,
    stdio: 'inherit',
  });
}
