import 'reflect-metadata';
import { runCli } from './cli';

// The `scaleset` binary. A second SIGTERM/SIGINT while shutting down exits at once.
let stopping = false;
const stopSignal = (): Promise<string> =>
  new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.exit(130);
      }
      stopping = true;
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });

void runCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  cwd: process.cwd(),
  stopSignal,
}).then((code) => {
  process.exitCode = code;
});
