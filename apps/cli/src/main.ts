import 'reflect-metadata';
import { runCli } from './cli';

// The `scaleset` binary. Signals are caught from the first moment, so one that arrives
// while the roles start still leads to a clean shutdown; a second one exits at once.
let received: NodeJS.Signals | undefined;
let notify: ((signal: string) => void) | undefined;
const onSignal = (signal: NodeJS.Signals): void => {
  if (received !== undefined) {
    process.exit(130);
  }
  received = signal;
  notify?.(signal);
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
const stopSignal = (): Promise<string> =>
  new Promise((resolve) => {
    if (received !== undefined) {
      resolve(received);
      return;
    }
    notify = resolve;
  });

void runCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  cwd: process.cwd(),
  stopSignal,
}).then((code) => {
  // Everything has been closed in order by now; exit even if a library left a timer behind.
  process.exit(code);
});
