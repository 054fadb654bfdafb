import { Deployment, type DeploymentOptions } from './deployment.mts';

/** What every scenario gets from the runner. */
export interface BenchContext {
  /** Smaller sizes, for a smoke run. */
  readonly quick: boolean;
  /** Folder for deployments (configs, logs, event files). */
  readonly workRoot: string;
  /** Starts a deployment the runner stops if the scenario times out or fails. */
  deploy(options: Omit<DeploymentOptions, 'workRoot'>): Promise<Deployment>;
}
