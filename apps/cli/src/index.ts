/** The `scaleset` command line, for tests that drive it in-process. */
export { runCli, buildProgram, EXIT, type CliIo } from './cli';
export { deleteScaleSets, type ScaleSetDeleteReport } from './scale-set-delete.command';
