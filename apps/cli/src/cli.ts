import { Command, CommanderError, Option } from 'commander';
import { stringify } from 'yaml';
import type { INestApplicationContext } from '@nestjs/common';
import {
  CONFIG_SOURCES,
  ConfigValidationError,
  loadConfig,
  redactedConfig,
  type ScalesetConfig,
} from '@app/config';
import { createLogger, startTelemetry, type Logger, type TelemetryHandle } from '@app/telemetry';
import { bootstrapListener, listenerFailure } from '@apps/listener';
import { bootstrapWorker, formatReconcileReport, runReconcileOnce } from '@apps/worker';
import { deleteScaleSets } from './scale-set-delete.command';
import { buildVersion } from './version';

/** Where the CLI reads and writes; replaceable in tests. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Resolves when the process is asked to stop (SIGTERM/SIGINT). */
  readonly stopSignal: () => Promise<string>;
}

/** Exit codes of the `scaleset` command. */
export const EXIT = { ok: 0, failure: 1, config: 2 } as const;

type Role = 'all' | 'listener' | 'worker';

const SHUTDOWN_TIMEOUT_MS = 30_000;

function addConfigOptions(cmd: Command): Command {
  cmd.option(
    '-c, --config <path>',
    'path to the YAML configuration file (default "config.yaml", env SCALESET_CONFIG)',
  );
  for (const source of CONFIG_SOURCES) {
    if (source.flag === undefined) {
      continue;
    }
    const value = source.kind === 'int' ? '<n>' : source.kind === 'list' ? '<a,b>' : '<value>';
    const note = source.secret === true ? ' (visible in ps; prefer the environment)' : '';
    cmd.addOption(
      new Option(`--${source.flag} ${value}`, `${source.description}${note} [${source.env}]`),
    );
  }
  return cmd;
}

function flagsOf(cmd: Command): Record<string, string | undefined> {
  const opts = cmd.optsWithGlobals<Record<string, string | undefined>>();
  const flags: Record<string, string | undefined> = {};
  for (const source of CONFIG_SOURCES) {
    if (source.flag === undefined) {
      continue;
    }
    const key = source.flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
    flags[source.flag] = opts[key];
  }
  return flags;
}

/** Builds the `scaleset` command tree. `result.code` receives the exit code of the action run. */
export function buildProgram(io: CliIo, result: { code: number }): Command {
  const load = (cmd: Command): ScalesetConfig => {
    const opts = cmd.optsWithGlobals<{ config?: string }>();
    return loadConfig({
      ...(opts.config !== undefined && { configPath: opts.config }),
      flags: flagsOf(cmd),
      env: io.env,
      cwd: io.cwd,
    });
  };

  const program = new Command('scaleset')
    .description(
      'Autoscaler for GitHub Actions runner scale sets: ephemeral runners on Docker (GCP, AWS, Azure to come), coordinated through Redis.',
    )
    .version(buildVersion(), '-v, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride()
    .showHelpAfterError('(run scaleset --help for usage)');
  addConfigOptions(program);

  const runRole = (role: Role) => async (_opts: unknown, cmd: Command) => {
    result.code = await runRoles(role, load(cmd), io);
  };

  program.action(runRole('all'));
  program
    .command('run')
    .description('run the listener and the worker in one process (the default)')
    .action(runRole('all'));
  program
    .command('listener')
    .description('run only the listener: sessions, messages, scaling decisions')
    .action(runRole('listener'));
  program
    .command('worker')
    .description('run only the worker: start, destroy and reconcile jobs')
    .action(runRole('worker'));

  const config = program.command('config').description('inspect the configuration');
  config
    .command('validate')
    .description('validate the configuration and print it with every secret redacted')
    .action((_opts: unknown, cmd: Command) => {
      const effective = load(cmd);
      io.stdout(stringify(redactedConfig(effective), { lineWidth: 0 }));
      io.stderr('configuration is valid\n');
      result.code = EXIT.ok;
    });

  program
    .command('scaleset')
    .description('manage the scale sets on GitHub')
    .command('delete')
    .description(
      'delete the configured scale sets (or --only ones): destroy their runners, remove their registrations, delete them on GitHub. Stop the listeners first.',
    )
    .option('--only <names>', 'comma-separated scale set names (default: all configured)')
    .option('--yes', 'confirm; nothing is deleted without it')
    .action(async (opts: { only?: string; yes?: boolean }, cmd: Command) => {
      const effective = load(cmd);
      const names = (opts.only ?? '')
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n !== '');
      const targets = names.length > 0 ? names : effective.scaleSets.map((s) => s.name);
      if (opts.yes !== true) {
        io.stderr(
          `this deletes scale set(s) ${targets.join(', ')} and all their runners; add --yes to confirm\n`,
        );
        result.code = EXIT.config;
        return;
      }
      const logger = createLogger(effective.logging, { deployment: effective.deployment.id });
      const reports = await deleteScaleSets(effective, names, logger);
      for (const r of reports) {
        io.stdout(
          r.found
            ? `${r.name}: deleted scale set ${r.scaleSetId ?? '?'} (${r.computeDestroyed} runner(s) destroyed, ${r.registrationsRemoved} registration(s) removed${r.busyRegistrations > 0 ? `, ${r.busyRegistrations} were busy` : ''})\n`
            : `${r.name}: not found on GitHub; nothing to delete\n`,
        );
      }
      result.code = EXIT.ok;
    });

  program
    .command('reconcile')
    .description(
      'compare the registry, GitHub and the engine for every scale set and repair what differs (destroy jobs are carried out by the workers)',
    )
    .option(
      '--once',
      'run one pass and print what it did (the only mode; workers reconcile on a schedule)',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const effective = load(cmd);
      const logger = createLogger(effective.logging, { deployment: effective.deployment.id });
      const reports = await runReconcileOnce(effective, logger);
      io.stdout(formatReconcileReport(reports));
      result.code = EXIT.ok;
    });

  program
    .command('dev')
    .description('development helpers')
    .command('fake-github')
    .description(
      'serve the fake GitHub service on 127.0.0.1 (options: --port N, --poll-timeout-ms N, --mode assign|acquire)',
    )
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_opts: unknown, cmd: Command) => {
      // Loaded on demand: the fake is a test tool and stays out of the normal start path.
      const { runFakeGitHubCli } = await import('@app/testing');
      await runFakeGitHubCli(cmd.args);
      result.code = EXIT.ok;
    });

  return program;
}

/** Runs the `scaleset` command line and resolves with the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const result = { code: EXIT.ok as number };
  const program = buildProgram(io, result);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return result.code;
  } catch (err) {
    if (err instanceof ConfigValidationError) {
      io.stderr(`${err.message}\n`);
      return EXIT.config;
    }
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors with 1 → 2.
      return err.exitCode === 0 ? EXIT.ok : EXIT.config;
    }
    io.stderr(`scaleset: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failure;
  }
}

async function runRoles(role: Role, config: ScalesetConfig, io: CliIo): Promise<number> {
  const logger = createLogger(config.logging, { deployment: config.deployment.id });
  const apps: { name: string; app: INestApplicationContext }[] = [];
  let failure: Promise<Error> = new Promise<Error>(() => undefined);
  // Once per process, before the apps and stopped after them: in the all-in-one process the
  // listener and the worker share one telemetry (one /metrics registry and port).
  let telemetry: TelemetryHandle | undefined;
  try {
    telemetry = await startTelemetry(config, { role, logger, version: buildVersion() });
    // The worker starts first so that the jobs the listener enqueues find a consumer.
    if (role === 'all' || role === 'worker') {
      apps.push({
        name: 'worker',
        app: await bootstrapWorker(config, logger, telemetry.telemetry),
      });
    }
    if (role === 'all' || role === 'listener') {
      const listener = await bootstrapListener(config, logger, telemetry.telemetry);
      apps.push({ name: 'listener', app: listener });
      failure = listenerFailure(listener);
    }
  } catch (err) {
    logger.error({ err }, 'startup failed');
    await closeAll(apps, logger);
    await stopTelemetry(telemetry, logger);
    flush(logger);
    return EXIT.failure;
  }
  const stop = await Promise.race([
    io.stopSignal().then((signal) => ({ signal, err: undefined })),
    failure.then((err) => ({ signal: undefined, err })),
  ]);
  if (stop.err !== undefined) {
    logger.error({ err: stop.err }, 'configuration error: shutting down');
  } else {
    logger.info({ signal: stop.signal }, 'shutting down');
  }
  const ok = await closeAll(apps, logger);
  await stopTelemetry(telemetry, logger);
  flush(logger);
  if (stop.err !== undefined) {
    return EXIT.config;
  }
  return ok ? EXIT.ok : EXIT.failure;
}

async function closeAll(
  apps: readonly { name: string; app: INestApplicationContext }[],
  logger: Logger,
): Promise<boolean> {
  let ok = true;
  // The listener stops first: it hands its session over before the workers go away.
  for (const { name, app } of [...apps].reverse()) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        app.close(),
        new Promise((_resolve, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`${name} did not stop within ${SHUTDOWN_TIMEOUT_MS} ms`));
          }, SHUTDOWN_TIMEOUT_MS);
        }),
      ]);
      logger.info({ role: name }, 'stopped');
    } catch (err) {
      ok = false;
      logger.error({ err, role: name }, 'shutdown failed');
    } finally {
      clearTimeout(timer);
    }
  }
  return ok;
}

/** Flushes the last spans and metrics; bounded, so an unreachable collector cannot hang exit. */
async function stopTelemetry(handle: TelemetryHandle | undefined, logger: Logger): Promise<void> {
  if (handle === undefined) {
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      handle.shutdown(),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger.warn({}, 'telemetry did not flush within 10 s; exiting anyway');
          resolve();
        }, 10_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function flush(logger: Logger): void {
  logger.flush();
}
